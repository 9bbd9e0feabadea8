// The attention-forward lab (attention_forward.cu) compiled as host C++ against the SIMT
// emulator, so that CI runs its checks without a GPU.
#include "attention_forward.cu"
