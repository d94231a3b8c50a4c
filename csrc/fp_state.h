// The calling thread's floating-point control word (rounding mode, flush-to-zero), which work
// handed to another thread carries along, so that it rounds as its caller would.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYAD_FP_STATE() _mm_getcsr()
#define PYAD_SET_FP_STATE(s) _mm_setcsr(s)
#else
#define PYAD_FP_STATE() 0u
#define PYAD_SET_FP_STATE(s) ((void)(s))
#endif
