// A private copy of stb_image / stb_image_write, compiled into every translation unit that
// includes it with `static` linkage: no link step for users, no duplicate symbols between
// translation units. Only PNG, JPEG and BMP decoding is compiled in.
//
// If the including program already included stb_image.h (or stb_image_write.h) itself, its
// declarations are used instead and that program provides the implementation as usual.
#pragma once

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif

// Debian's libstb-dev puts the headers in /usr/include/stb/; the CMake target adds that folder.
#if __has_include(<stb_image.h>)
#define ONENIP_STB_IMAGE_H <stb_image.h>
#define ONENIP_STB_IMAGE_WRITE_H <stb_image_write.h>
#elif __has_include(<stb/stb_image.h>)
#define ONENIP_STB_IMAGE_H <stb/stb_image.h>
#define ONENIP_STB_IMAGE_WRITE_H <stb/stb_image_write.h>
#else
#error "onenip image I/O needs stb_image.h and stb_image_write.h (Debian/Ubuntu: apt-get install libstb-dev)"
#endif

#ifndef STBI_INCLUDE_STB_IMAGE_H
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_FAILURE_USERMSG  // "Corrupt PNG" rather than "outofdata"
#include ONENIP_STB_IMAGE_H
#undef STB_IMAGE_IMPLEMENTATION
#endif

#ifndef INCLUDE_STB_IMAGE_WRITE_H
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include ONENIP_STB_IMAGE_WRITE_H
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#endif

#undef ONENIP_STB_IMAGE_H
#undef ONENIP_STB_IMAGE_WRITE_H

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
