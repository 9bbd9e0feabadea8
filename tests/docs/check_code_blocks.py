#!/usr/bin/env python3
"""Checks the code blocks and links of README.md and docs/*.md, so the docs cannot drift from the code.

Every fenced block carries a tag after its language: "```<lang> <tag> [file=PATH]" (an untagged block
fails), the tag one of
  run         cpp: compiled against include/ (C++20, OpenMP, Eigen) and run, must exit 0 (keep it well
              under a second). sh: run by `bash -e -o pipefail` in an empty folder, with the build's
              programs (onenip, ...) on PATH (seconds at most).
  compile     cpp: compiled and linked, not run.
  parse-only  sh: `bash -n`; every `onenip <sub> --flag` it shows (in a trailing comment too), and every
              flag of another built program, must be one `<program> [<sub>] --help` lists; the
              repository paths it names must exist; a build path build*/DIR/NAME must name a program
              of DIR/CMakeLists.txt; -DONENIP_* must be a CMake option, `--target T` a CMake target.
              cmake: parsed by `cmake -P` (inside if(FALSE)), each command a CMake one or one of ours.
              json: parsed. text: quotes a file (file=) or names repository paths, which must exist.
              cpp: compiled at namespace scope after <onenip/onenip.hpp> (seeing the names of onenip
              and onenip::kernels), never run; with file=, only the quote is checked.
file=PATH (any language): the block equals a contiguous run of lines of that repository file, up to a
common prefix of indentation and/or a comment marker (so a comment of the file can be quoted).

A cpp block without `main(` is wrapped: its leading #include / using lines stay at file scope, the rest
becomes a function body (so it may `return 1;` to fail). Wrapped blocks and compile-only programs share
one translation unit, each in its own namespace (the library's templates are compiled once); the
program runs once per `run` block, each in a fresh process, and names the block that failed. Programs
that run are compiled alone. #line directives make compiler errors point into the markdown.

Besides the blocks: relative links (and their #anchors) must resolve; in prose, a `path/in/backticks`
that starts with a folder of the repository (or of include/onenip/) must exist, and so must some file
with a `bare_name.hpp`; no file of the docs or the code cites a document outside the repository.

  check_code_blocks.py --source DIR --programs DIR --work DIR [--self-test FIXTURES] [DOCS...] --cxx CXX FLAGS...
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

TAGS = {"run", "compile", "parse-only"}
LANG_TAGS = {
    "cpp": {"run", "compile", "parse-only"},
    "sh": {"run", "parse-only"},
    "cmake": {"parse-only"},
    "json": {"parse-only"},
    "text": {"parse-only"},
}
LANG_ALIASES = {"bash": "sh", "c++": "cpp"}
# Documents outside this repository that the docs and code must stand without.
OUTSIDE_CITATIONS = ["../shared/reference", "shared/reference/", "onenip-reference.md", "project-decisions.md"]
# any document beside the project (its data and weights may be named as locations, not cited)
OUTSIDE_DOCUMENT = re.compile(r"\.\./shared/\S*\.(md|pdf)\b")
CITATION_SCAN = ["README.md", "docs", "include", "cuda", "examples", "tests", "bench", "fuzz", "dev", "cmake"]
TEXT_SUFFIXES = (".md", ".hpp", ".cpp", ".h", ".cu", ".cuh", ".cmake", ".txt", ".sh", ".py", ".in", ".json")
RUN_TIMEOUT_S = 120
# Commands that run another program given later on their command line.
LAUNCHERS = {"mpirun", "mpiexec", "srun", "env", "nice", "time", "sudo", "exec", "taskset", "numactl", "valgrind", "gdb"}


class Block:
    count = 0

    def __init__(self, path, line, info, lines):
        self.path, self.line, self.info, self.lines = path, line, info, lines  # line: of the opening fence
        self.lang = self.tag = self.file = None
        self.serial = Block.count
        Block.count += 1

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def describe(self):
        return f"{self.where}: [```{self.info}]"

    @property
    def text(self):
        return "\n".join(self.lines) + "\n"


class Checker:
    def __init__(self, source, programs_dir, work, cxx):
        self.source, self.programs_dir, self.work, self.cxx = source, programs_dir, work, cxx
        self.errors = []
        self.tracked = self._tracked_files()
        self.top_level = {f.split("/", 1)[0] for f in self.tracked}
        self.include_dirs = {d for d in os.listdir(os.path.join(source, "include", "onenip"))
                             if os.path.isdir(os.path.join(source, "include", "onenip", d))}
        self._help = {}
        self.checked = {}  # "lang tag" -> blocks
        self._cmake_corpus = None

    def error(self, where, message):
        self.errors.append(f"{where}: {message}")

    # ---- the repository ----
    def _tracked_files(self):
        try:
            out = subprocess.run(["git", "-C", self.source, "ls-files", "--cached", "--others", "--exclude-standard"],
                                 capture_output=True, text=True, check=True).stdout
            files = [f for f in out.splitlines() if os.path.exists(os.path.join(self.source, f))]
            if files:
                return files
        except (OSError, subprocess.CalledProcessError):
            pass
        files = []  # not a git checkout: everything but build folders and run outputs
        for root, dirs, names in os.walk(self.source):
            rel = os.path.relpath(root, self.source)
            dirs[:] = [d for d in dirs if not (rel == "." and (d.startswith(("build", ".")) or d in ("runs", "out")))]
            files += [os.path.normpath(os.path.join(rel, n)) for n in names]
        return files

    def cmake_corpus(self):
        if self._cmake_corpus is None:
            texts = []
            for f in self.tracked:
                if f.endswith(("CMakeLists.txt", ".cmake")):
                    with open(os.path.join(self.source, f), encoding="utf-8", errors="replace") as fh:
                        texts.append(fh.read())
            self._cmake_corpus = "\n".join(texts)
        return self._cmake_corpus

    def read_repo_file(self, rel):
        path = os.path.join(self.source, rel)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().split("\n")

    # ---- programs and their flags ----
    def program_help(self, program, sub=None):
        """(flags, subcommands) from `program [sub] --help`, or None when the program has no help."""
        key = (program, sub)
        if key not in self._help:
            exe = os.path.join(self.programs_dir, program)
            args = [exe] + ([sub] if sub else []) + ["--help"]
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=30)
                out = r.stdout + r.stderr
            except (OSError, subprocess.TimeoutExpired):
                self._help[key] = None
                return None
            flags = set(re.findall(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)", out))
            if r.returncode != 0:
                flags.discard("--help")  # it printed its usage because --help is unknown to it
            subs = set()
            if "Subcommands:" in out:
                section = out.split("Subcommands:", 1)[1]
                subs = set(re.findall(r"^\s+([a-z][\w-]*)\s", section, re.M))
            self._help[key] = (flags, subs)
        return self._help[key]

    def programs(self):
        if not self.programs_dir or not os.path.isdir(self.programs_dir):
            return set()
        return {n for n in os.listdir(self.programs_dir)
                if os.path.isfile(os.path.join(self.programs_dir, n)) and os.access(os.path.join(self.programs_dir, n), os.X_OK)}

    # ---- markdown ----
    def parse_blocks(self, rel, lines):
        blocks, i = [], 0
        while i < len(lines):
            m = re.match(r"^( *)(`{3,}|~{3,})(.*)$", lines[i])
            if not m:
                i += 1
                continue
            indent, fence, info = len(m.group(1)), m.group(2), m.group(3).strip()
            body, j = [], i + 1
            while j < len(lines):
                c = re.match(r"^ *(`{3,}|~{3,})\s*$", lines[j])
                if c and c.group(1)[0] == fence[0] and len(c.group(1)) >= len(fence):
                    break
                body.append(re.sub(r"^ {0,%d}" % indent, "", lines[j]))
                j += 1
            if j == len(lines):
                self.error(f"{rel}:{i + 1}", f"the block opened here (```{info}) is never closed")
            blocks.append(Block(rel, i + 1, info, body))
            i = j + 1
        return blocks

    def classify(self, block):
        words = block.info.split()
        if not words:
            self.error(block.where, "an untagged block (``` with no language): write ```<lang> run|compile|parse-only "
                                    "(see tests/docs/check_code_blocks.py)")
            return False
        lang = LANG_ALIASES.get(words[0], words[0])
        tags = [w for w in words[1:] if w in TAGS]
        files = [w[5:] for w in words[1:] if w.startswith("file=")]
        other = [w for w in words[1:] if w not in TAGS and not w.startswith("file=")]
        if lang not in LANG_TAGS:
            self.error(block.describe(), f"unknown language '{words[0]}' (one of {', '.join(sorted(LANG_TAGS))}, "
                                         f"or make it prose or a table)")
            return False
        if len(tags) != 1:
            self.error(block.describe(), f"{'untagged: ' if not tags else ''}needs exactly one tag of "
                                         f"run|compile|parse-only, has {len(tags) or 'none'}{': ' + ' '.join(tags) if tags else ''}")
            return False
        if other or len(files) > 1:
            self.error(block.describe(), f"unknown words in the info string: {' '.join(other or files)}")
            return False
        if tags[0] not in LANG_TAGS[lang]:
            self.error(block.describe(), f"a {lang} block cannot be '{tags[0]}' (allowed: {', '.join(sorted(LANG_TAGS[lang]))})")
            return False
        block.lang, block.tag, block.file = lang, tags[0], files[0] if files else None
        return True

    # ---- file= ----
    def check_quote(self, block):
        file_lines = self.read_repo_file(block.file)
        if file_lines is None:
            self.error(block.describe(), f"file={block.file} does not exist in the repository")
            return
        lines = list(block.lines)
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            self.error(block.describe(), "an empty block")
            return
        best = (0, None)  # (lines matched, first file line)
        for start in range(len(file_lines) - len(lines) + 1):
            prefix = self._quote_prefix(file_lines[start], lines[0])
            if prefix is None:
                continue
            k = 1
            while k < len(lines) and self._line_matches(file_lines[start + k], lines[k], prefix):
                k += 1
            if k == len(lines):
                return
            best = max(best, (k, start), key=lambda b: b[0])
        if best[1] is None:
            self.error(block.describe(), f"its first line is not a line of {block.file}: {lines[0].strip()!r}")
        else:
            k, start = best
            self.error(block.describe(), f"differs from {block.file}:{start + k + 1} at its line {k + 1} "
                                         f"(the file has {file_lines[start + k].strip()!r}, the block {lines[k].strip()!r})")

    @staticmethod
    def _quote_prefix(file_line, block_line):
        """The prefix (indentation, maybe a comment marker) that makes file_line equal block_line, or None."""
        if not file_line.endswith(block_line) or (block_line == "" and file_line.strip()):
            return None
        prefix = file_line[: len(file_line) - len(block_line)]
        return prefix if re.fullmatch(r"[ \t]*((//|#)[ \t]*)?", prefix) else None

    @staticmethod
    def _line_matches(file_line, block_line, prefix):
        if not block_line.strip():
            return file_line.strip() in ("", prefix.strip())
        return file_line == prefix + block_line

    # ---- sh ----
    def check_sh(self, block, scratch):
        script = os.path.join(scratch, f"block_{block.serial}.sh")
        with open(script, "w") as fh:
            fh.write(block.text)
        r = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        if r.returncode != 0:
            self.error(block.describe(), "bash -n: " + r.stderr.replace(script, "block").strip())
            return
        self.check_commands(block)
        if block.tag == "run":
            run_dir = os.path.join(scratch, f"run_{block.serial}")
            os.makedirs(run_dir)
            env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
            if self.programs_dir:
                env["PATH"] = self.programs_dir + os.pathsep + env.get("PATH", "")
            try:
                r = subprocess.run(["bash", "-e", "-o", "pipefail", script], cwd=run_dir, env=env,
                                   capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
                if r.returncode != 0:
                    self.error(block.describe(), f"exited with {r.returncode}:\n{(r.stdout + r.stderr)[-2000:]}")
            except subprocess.TimeoutExpired:
                self.error(block.describe(), f"still running after {RUN_TIMEOUT_S} s (make it parse-only)")

    def logical_lines(self, block):
        """(first line number, text) per command line: continuations joined, heredoc bodies skipped."""
        out, pending, start, heredoc = [], "", None, None
        for k, line in enumerate(block.lines):
            number = block.line + 1 + k
            if heredoc:
                if line.strip() == heredoc:
                    heredoc = None
                continue
            if start is None:
                start = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text = pending + line
            out.append((start, text))
            pending, start = "", None
            m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", text)
            if m:
                heredoc = m.group(1)
        if pending:
            out.append((start, pending))
        return out

    @staticmethod
    def tokens(text):
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split, lexer.commenters = True, ""
        try:
            return list(lexer)
        except ValueError:
            return text.split()

    def check_commands(self, block):
        programs = self.programs()
        for number, text in self.logical_lines(block):
            where = f"{block.path}:{number}"
            words = self.tokens(text)
            cut = next((i for i, w in enumerate(words) if w.startswith("#")), len(words))
            words, comment = words[:cut], words[cut:]  # a comment's flags belong to the command before it
            commands, current = [], []
            for w in words:
                if w in (";", "&&", "||", "|", "&", "(", ")"):
                    commands.append(current)
                    current = []
                else:
                    current.append(w)
            commands.append(current)
            for k, command in enumerate(commands):
                self.check_command(where, command, comment if k == len(commands) - 1 else [], programs)
            for w in comment:
                self.check_word_path(where, w)

    def check_command(self, where, words, comment, programs):
        """comment: the words of a comment after the command, whose --flags are the command's too."""
        first = next((i for i, w in enumerate(words) if not re.match(r"\w+=", w)), len(words))
        launched = first < len(words) and os.path.basename(words[first]) in LAUNCHERS
        for i, w in enumerate(words[first:], start=first):
            # the program: the command's first word, or after a launcher's options (mpirun -np 2 onenip ...)
            if os.path.basename(w) in programs and (i == first or launched and not words[i - 1].startswith("-")):
                self.check_program_flags(where, os.path.basename(w), words[i + 1:] + comment)
                break
        for i, w in enumerate(words):
            self.check_word_path(where, w)
            m = re.match(r"-D\s*(ONENIP_\w+)", w) or (w == "-D" and i + 1 < len(words) and re.match(r"(ONENIP_\w+)", words[i + 1]))
            if m and not re.search(r"(option|set)\(\s*%s\b" % m.group(1), self.cmake_corpus()):
                self.error(where, f"{m.group(1)} is not a CMake option of the project")
            if w == "--target":
                for t in words[i + 1:]:
                    if t.startswith("-"):
                        break
                    if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(t), self.cmake_corpus()):
                        self.error(where, f"--target {t}: no such CMake target in the project")

    def check_program_flags(self, where, program, rest):
        found = self.program_help(program)
        if found is None:
            return
        flags, subs = found
        shown = program
        if subs:
            if not rest or rest[0].startswith("-") or rest[0] == "#":
                pass  # the program's own flags
            elif rest[0] not in subs:
                self.error(where, f"'{program} {rest[0]}': {program} has no such subcommand (it has {', '.join(sorted(subs))})")
                return
            else:
                shown = f"{program} {rest[0]}"
                flags, _ = self.program_help(program, rest[0]) or (set(), set())
                rest = rest[1:]
        for w in rest:
            for flag in re.findall(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)", w):
                if flag not in flags:
                    self.error(where, f"{flag} is not a flag of `{shown}` (its --help lists: {' '.join(sorted(flags))})")

    def check_word_path(self, where, word):
        """A word that names a repository path (or a build output of one) must exist."""
        word = re.sub(r"^--?[\w-]+=", "", word).strip("'\"[](),;:`")
        if not word or word.startswith(("/", "-", "~", "$")) or re.search(r"[$*?{}<>|]", word) or "/" not in word:
            return
        word = word[2:] if word.startswith("./") else word
        first = word.split("/", 1)[0]
        m = re.match(r"build[\w.-]*/(.+)/([^/]+)$", word)
        if m and first not in self.top_level:
            folder, name = m.groups()
            cmakelists = os.path.join(self.source, folder, "CMakeLists.txt")
            if not os.path.isfile(cmakelists):
                self.error(where, f"{word}: {folder}/ has no CMakeLists.txt, so nothing is built into {folder}/")
            elif not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(name), open(cmakelists, encoding="utf-8").read()):
                self.error(where, f"{word}: {folder}/CMakeLists.txt builds no program named {name}")
            return
        if first in self.top_level and not os.path.exists(os.path.join(self.source, word)):
            self.error(where, f"{word} does not exist in the repository")

    # ---- cmake, json, text ----
    def check_cmake(self, block, scratch):
        script = os.path.join(scratch, f"block_{block.serial}.cmake")
        with open(script, "w") as fh:
            fh.write("if(FALSE)\n" + block.text + "endif()\n")
        r = subprocess.run(["cmake", "-P", script], capture_output=True, text=True)
        if r.returncode != 0:
            self.error(block.describe(), "cmake cannot parse it:\n" + (r.stdout + r.stderr).strip()[-1500:])
            return
        known = set(subprocess.run(["cmake", "--help-command-list"], capture_output=True, text=True).stdout.split())
        known |= set(re.findall(r"(?:function|macro)\(\s*(\w+)", self.cmake_corpus()))
        for k, line in enumerate(block.lines):
            m = re.match(r"\s*(\w+)\s*\(", line)
            if m and m.group(1).lower() not in known and m.group(1) not in known:
                self.error(f"{block.path}:{block.line + 1 + k}", f"{m.group(1)}() is not a CMake command")

    def check_json(self, block):
        try:
            json.loads(block.text)
        except json.JSONDecodeError as e:
            self.error(f"{block.path}:{block.line + e.lineno}", f"not JSON: {e.msg}")

    def check_text(self, block):
        if block.file:
            return
        before = len(self.errors)
        named = 0
        for k, line in enumerate(block.lines):
            for w in line.split():
                stripped = re.sub(r"^[│├└─\s]+", "", w).strip("'\"[](),;:`")
                if "/" in stripped and stripped.split("/", 1)[0] in self.top_level:
                    named += 1
                self.check_word_path(f"{block.path}:{block.line + 1 + k}", w)
        if not named and len(self.errors) == before:
            self.error(block.describe(), "a text block that quotes no file (file=) and names no repository path checks "
                                         "nothing: make it prose or a table")

    # ---- cpp ----
    @staticmethod
    def head_end(block, keep):
        """The index of the first line after the block's leading lines that match keep (file scope)."""
        k = 0
        while k < len(block.lines) and re.match(keep, block.lines[k]):
            k += 1
        return k

    def cpp_units(self, blocks):
        """The translation units: one shared by every wrapped block and every compile-only program
        that can live in a namespace (so the library's templates are compiled once), then one per
        other program. A unit: (name, blocks, source, whether to run it)."""
        checked = [b for b in blocks if not (b.tag == "parse-only" and b.file)]
        shared, alone = [], []
        for b in checked:
            if not re.search(r"\bmain\s*\(", b.text):
                shared.append(b)
            elif b.tag == "compile" and not any(re.match(r"\s*#\s*(?!include)", line)
                                                for line in b.lines[self.head_end(b, r"\s*(#include|//|$)"):]):
                shared.append(b)
            else:
                alone.append(b)
        includes, bodies, calls = [], [], []
        for n, b in enumerate(shared):
            program = re.search(r"\bmain\s*\(", b.text)
            k = self.head_end(b, r"\s*(#include|//|$)" if program else r"\s*(#include|using\s|//|$)")
            head = range(k)
            if not program and b.tag != "parse-only" and re.search(r"\bonenip\b", b.text) and not any(
                    "#include <onenip/" in b.lines[h] for h in head):
                self.error(b.describe(), "uses onenip but includes no <onenip/...> header (a reader copies the block whole)")
            includes += [f'#line {b.line + 1 + h} "{b.path}"\n{b.lines[h]}' for h in head
                         if b.lines[h].lstrip().startswith("#include")]
            usings = "".join(f'#line {b.line + 1 + h} "{b.path}"\n{b.lines[h]}\n' for h in head
                             if b.lines[h].lstrip().startswith("using"))
            body = f'#line {b.line + 1 + k} "{b.path}"\n' + "\n".join(b.lines[k:])
            if program:  # its main becomes a function of its namespace, never called
                bodies.append(f"namespace onenip_doc_block_{n} {{\n#define main onenip_doc_main\n{body}\n#undef main\n}}\n")
            elif b.tag == "parse-only":
                bodies.append(f"namespace onenip_doc_block_{n} {{\nusing namespace onenip;\nusing namespace onenip::kernels;\n"
                              f"{usings}{body}\n}}\n")
            else:
                bodies.append(f"namespace onenip_doc_block_{n} {{\n{usings}int run() {{\n{body}\nreturn 0;\n}}\n}}\n")
            if b.tag == "run":
                calls.append(f'  {{"{b.describe()}", onenip_doc_block_{n}::run}},')
        units = []
        if shared:
            prelude = "#include <cstdio>\n#include <cstdlib>\n#include <exception>\n"
            if any(b.tag == "parse-only" for b in shared):
                prelude += "#include <onenip/onenip.hpp>\n"
            main = ("struct OnenipDocBlock { const char* where; int (*run)(); };\n"
                    "int main(int argc, char** argv) {  // argv[1]: which block (each runs in a fresh process)\n"
                    "  const OnenipDocBlock blocks[] = {\n" + "\n".join(calls) + "\n    {nullptr, nullptr}};\n"
                    "  const OnenipDocBlock& b = blocks[argc == 2 ? std::atoi(argv[1]) : 0];\n"
                    "  try {\n    if (int rc = b.run()) { std::printf(\"FAILED %s: returned %d\\n\", b.where, rc); return 1; }\n"
                    "  } catch (const std::exception& e) {\n"
                    "    std::printf(\"FAILED %s: threw %s\\n\", b.where, e.what());\n    return 1;\n  }\n}\n")
            source = prelude + "\n".join(includes) + "\n" + "\n".join(bodies) + '#line 1 "generated main"\n' + main
            runs = [(b, [str(i)]) for i, b in enumerate(b for b in shared if b.tag == "run")]
            units.append(("shared_unit", shared, source, runs))
        for b in alone:
            units.append((f"program_{b.path.replace('/', '_')}_{b.line}", [b], f'#line {b.line + 1} "{b.path}"\n{b.text}',
                          [(b, [])] if b.tag == "run" else []))
        return units

    def build_and_run(self, unit, scratch):
        """Compiles a unit, then runs each of its run blocks in a process of its own (so no block sees
        another's state: the allocator's cache, the default generator, files), each in an empty folder."""
        name, blocks, source, runs = unit
        src, exe = os.path.join(scratch, name + ".cpp"), os.path.join(scratch, name)
        with open(src, "w") as fh:
            fh.write(source)
        r = subprocess.run(self.cxx + [src, "-o", exe], capture_output=True, text=True, cwd=self.source)
        if r.returncode != 0:
            return self.compile_errors(blocks, r.stdout + r.stderr)
        errors = []
        for block, args in runs:
            run_dir = os.path.join(scratch, f"run_{block.serial}")
            os.makedirs(run_dir, exist_ok=True)
            try:
                r = subprocess.run([exe] + args, capture_output=True, text=True, cwd=run_dir, timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                errors.append(f"{block.describe()}: still running after {RUN_TIMEOUT_S} s")
                continue
            output = r.stdout + r.stderr
            failed = re.findall(r"^FAILED (.*)$", output, re.M)
            if failed:
                errors += failed
            elif r.returncode != 0:
                status = f"crashed (signal {-r.returncode})" if r.returncode < 0 else f"exited with {r.returncode}"
                errors.append(f"{block.describe()}: {status}:\n{output[-2000:]}")
        return errors

    def compile_errors(self, blocks, output):
        """One message per block that a compiler error points into, with the full output after."""
        messages = []
        for path, line, text in re.findall(r"^([^\s:]+\.md):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$", output, re.M):
            owner = next((b for b in blocks if b.path == path and b.line < int(line) <= b.line + len(b.lines)), None)
            messages.append(f"{path}:{line}: {'[```' + owner.info + '] ' if owner else ''}compile error: {text}")
        if not messages:
            messages.append(f"{blocks[0].describe() if len(blocks) == 1 else 'the shared cpp unit'}: did not compile")
        messages[-1] += "\n--- compiler output ---\n" + output[-4000:]
        return messages

    # ---- prose ----
    @staticmethod
    def slugs(lines):
        found, seen, fenced = set(), {}, False
        for line in lines:
            if re.match(r"^ *(```|~~~)", line):
                fenced = not fenced
            m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                found.add(slug if n == 0 else f"{slug}-{n}")
        return found

    def check_prose(self, rel, lines):
        fenced = False
        for k, line in enumerate(lines):
            if re.match(r"^ *(```|~~~)", line):
                fenced = not fenced
                continue
            if fenced or line.lstrip().startswith("<!--"):
                continue
            where = f"{rel}:{k + 1}"
            for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
                self.check_link(where, rel, target)
            for span in re.findall(r"`([^`\s]+)`", line):
                self.check_prose_path(where, span)

    def check_link(self, where, rel, target):
        if re.match(r"^[a-z]+:", target):
            return  # https:, mailto:
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(os.path.join(self.source, rel)), path)) if path else \
            os.path.join(self.source, rel)
        if not os.path.exists(full):
            self.error(where, f"the link {target} points to {os.path.relpath(full, self.source)}, which does not exist")
            return
        if anchor and full.endswith(".md"):
            with open(full, encoding="utf-8") as fh:
                if anchor not in self.slugs(fh.read().split("\n")):
                    self.error(where, f"the link {target}: {os.path.relpath(full, self.source)} has no heading #{anchor}")

    def check_prose_path(self, where, span):
        span = span.rstrip(".,:;")
        if re.fullmatch(r"[\w.-]+\.(hpp|cpp|cu|cuh|py|sh|cmake)", span):  # a bare file name: some file has it
            if not any(os.path.basename(f) == span for f in self.tracked):
                self.error(where, f"`{span}`: no file of the repository has this name")
            return
        if "/" not in span or re.search(r"[*?{}<>$|=]", span) or span.startswith(("/", ".", "-")):
            return
        first = span.split("/", 1)[0]
        if first in self.top_level:
            if not os.path.exists(os.path.join(self.source, span)):
                self.error(where, f"`{span}` does not exist in the repository")
        elif first in self.include_dirs and re.search(r"\.\w+$", span):
            if not os.path.exists(os.path.join(self.source, "include", "onenip", span)):
                self.error(where, f"`{span}` does not exist under include/onenip/")

    def check_citations(self, paths):
        for path in paths:
            rel = os.path.relpath(path, self.source)
            with open(path, encoding="utf-8", errors="replace") as fh:
                for k, line in enumerate(fh):
                    document = OUTSIDE_DOCUMENT.search(line)
                    for cited in OUTSIDE_CITATIONS + ([document.group(0)] if document else []):
                        if cited in line:
                            self.error(f"{rel}:{k + 1}", f"cites '{cited}', a document outside the repository: "
                                                         f"say what it says here instead")
                            break

    def citation_files(self):
        out = []
        for f in self.tracked:
            if f.split("/", 1)[0] in CITATION_SCAN and f.endswith(TEXT_SUFFIXES) and not f.startswith("tests/docs/"):
                out.append(os.path.join(self.source, f))
        return out

    # ---- everything ----
    def check(self, docs, citation_paths):
        scratch = tempfile.mkdtemp(prefix="docs_", dir=self.work)
        cpp = []
        for path in docs:
            rel = os.path.relpath(path, self.source)
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().split("\n")
            self.check_prose(rel, lines)
            for block in self.parse_blocks(rel, lines):
                if not self.classify(block):
                    continue
                kind = f"{block.lang} {block.tag}{' file=' if block.file else ''}"
                self.checked[kind] = self.checked.get(kind, 0) + 1
                if block.file:
                    self.check_quote(block)
                if block.lang == "cpp":
                    cpp.append(block)
                elif block.lang == "sh":
                    self.check_sh(block, scratch)
                elif block.lang == "cmake":
                    self.check_cmake(block, scratch)
                elif block.lang == "json":
                    self.check_json(block)
                elif block.lang == "text":
                    self.check_text(block)
        self.check_citations(citation_paths)
        units = self.cpp_units(cpp)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            for messages in pool.map(lambda u: self.build_and_run(u, scratch), units):
                self.errors += messages
        shutil.rmtree(scratch, ignore_errors=True)
        return self.errors


def fixture_expectations(path):
    """(line, pattern) pairs: `<!-- expect [+K]: PATTERN -->` expects an error at the next line that is
    not such a comment, plus K, matching PATTERN."""
    expected, pending = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            m = re.match(r"<!-- expect(?: \+(\d+))?: (.*) -->$", line.strip())
            if m:
                pending.append((int(m.group(1) or 0), m.group(2)))
                continue
            expected += [(number + offset, pattern) for offset, pattern in pending]
            pending = []
    return expected


def self_test(args, fixtures):
    """Each fixture must give exactly the errors its comments expect (none for a clean one)."""
    failures = 0
    for name in sorted(os.listdir(fixtures)):
        if not name.endswith(".md"):
            continue
        path = os.path.abspath(os.path.join(fixtures, name))
        rel = os.path.relpath(path, args.source)
        expected = fixture_expectations(path)
        checker = Checker(args.source, args.programs, args.work, args.cxx)
        errors = checker.check([path], [path])

        def matches(err, line, pattern):
            return err.startswith(f"{rel}:{line}:") and re.search(pattern, err)
        missing = [(line, p) for line, p in expected if not any(matches(err, line, p) for err in errors)]
        unexpected = [err for err in errors if not any(matches(err, line, p) for line, p in expected)]
        status = "ok" if not missing and not unexpected else "FAILED"
        print(f"{status}: {name}: {len(errors)} errors reported, {len(expected)} expected")
        for line, pattern in missing:
            print(f"  expected at line {line} and not reported: {pattern}")
        for err in unexpected:
            print(f"  reported and not expected: {err}")
        failures += status != "ok"
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="the repository")
    parser.add_argument("--programs", help="folder of the built programs (onenip, ...)")
    parser.add_argument("--work", default=None, help="scratch folder")
    parser.add_argument("--self-test", metavar="FIXTURES", help="check that the fixtures fail as they say")
    parser.add_argument("docs", nargs="*", help="markdown files (default: README.md and docs/*.md)")
    parser.add_argument("--cxx", nargs=argparse.REMAINDER, required=True, help="compiler and flags (last)")
    args = parser.parse_args()
    args.source = os.path.abspath(args.source)
    args.programs = os.path.abspath(args.programs) if args.programs else None
    args.work = os.path.abspath(args.work or tempfile.gettempdir())
    os.makedirs(args.work, exist_ok=True)
    if args.self_test:
        sys.exit(1 if self_test(args, args.self_test) else 0)
    docs = args.docs or [os.path.join(args.source, "README.md")] + sorted(
        os.path.join(args.source, "docs", f) for f in os.listdir(os.path.join(args.source, "docs")) if f.endswith(".md"))
    checker = Checker(args.source, args.programs, args.work, args.cxx)
    errors = checker.check(docs, checker.citation_files())
    for e in errors:
        print(e)
    print(f"{len(errors)} problems in {len(docs)} files" if errors else f"every code block of {len(docs)} files checks")
    print("blocks: " + ", ".join(f"{n} {kind}" for kind, n in sorted(checker.checked.items())))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
