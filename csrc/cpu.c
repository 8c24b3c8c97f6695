/* CPU feature detection and the choice of SIMD path (see fastconv.h). */
#include <stdlib.h>
#include <string.h>
#include "fastconv.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FC_X86 1
#endif

int fc_cpu_has_avx2_fma(void)
{
#ifdef FC_X86
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!(fma && osxsave && avx))
        return 0;
    /* The OS must save the YMM state, or AVX instructions fault. */
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6)
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    return (ebx >> 5) & 1;
#else
    return 0;
#endif
}

/* AVX-512 Foundation, VL and DQ, with the OS saving the opmask and zmm
 * state (XCR0 bits 5-7) as well as the ymm state. */
int fc_cpu_has_avx512(void)
{
#ifdef FC_X86
    if (!fc_cpu_has_avx2_fma())
        return 0;
    unsigned int eax, ebx, ecx, edx;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6)
        return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const int f = (ebx >> 16) & 1, dq = (ebx >> 17) & 1, vl = (ebx >> 31) & 1;
    return f && dq && vl;
#else
    return 0;
#endif
}

/* -1 means not chosen yet. A race on first use is benign: every thread
 * computes the same value. */
static int fc_path = -1;

static int fc_best_path(void)
{
    if (fc_cpu_has_avx512())
        return FC_SIMD_AVX512;
    return fc_cpu_has_avx2_fma() ? FC_SIMD_AVX2 : FC_SIMD_PORTABLE;
}

static int fc_default_path(void)
{
    const char *env = getenv("FASTCONV_SIMD");
    if (env && (strcmp(env, "portable") == 0 || strcmp(env, "PORTABLE") == 0 || strcmp(env, "0") == 0))
        return FC_SIMD_PORTABLE;
    if (env && (strcmp(env, "avx2") == 0 || strcmp(env, "AVX2") == 0))
        return fc_set_simd_path(FC_SIMD_AVX2);
    return fc_best_path();
}

int fc_simd_path(void)
{
    int p = fc_path;
    if (p < 0) {
        p = fc_default_path();
        fc_path = p;
    }
    return p;
}

int fc_set_simd_path(int path)
{
    if (path == FC_SIMD_AVX512 && fc_cpu_has_avx512())
        fc_path = FC_SIMD_AVX512;
    else if (path >= FC_SIMD_AVX2 && fc_cpu_has_avx2_fma())
        fc_path = FC_SIMD_AVX2;
    else
        fc_path = FC_SIMD_PORTABLE;
    return fc_path;
}

const char *fc_simd_path_name(int path)
{
    return path == FC_SIMD_AVX512 ? "avx512" : path == FC_SIMD_AVX2 ? "avx2-fma" : "portable";
}
