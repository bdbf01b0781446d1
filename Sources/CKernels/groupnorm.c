#include "ckernels.h"
#include <stdlib.h>

// Plain loops over the channel axis, vectorised by the compiler for each
// target clone (AVX-512, AVX2, baseline) and dispatched at load time.
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES void tk_channel_sums(long n, int c, const float *x, const float *center, int power, double *sums) {
    float *acc = calloc((size_t)c, sizeof(float));
    for (long p0 = 0; p0 < n; p0 += 64) {
        long p1 = p0 + 64 < n ? p0 + 64 : n;
        if (power == 1) {
            for (long p = p0; p < p1; p++) {
                const float *r = x + p * c;
                for (int i = 0; i < c; i++) acc[i] += r[i];
            }
        } else {
            for (long p = p0; p < p1; p++) {
                const float *r = x + p * c;
                for (int i = 0; i < c; i++) { float d = r[i] - center[i]; acc[i] += d * d; }
            }
        }
        for (int i = 0; i < c; i++) { sums[i] += acc[i]; acc[i] = 0; }
    }
    free(acc);
}

// exp(x) = 2^n * p(r), |r| <= ln2/2; relative error about 2e-7.
static inline float fast_exp(float x) {
    x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
    float n = __builtin_roundevenf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.f;
    union { unsigned u; float f; } s = { (unsigned)((int)n + 127) << 23 };
    return p * s.f;
}

CLONES void tk_affine_swish(long n, int c, const float *x, float *y, const float *scale, const float *offset, const float *beta) {
    for (long p = 0; p < n; p++) {
        const float *r = x + p * c;
        float *o = y + p * c;
        for (int i = 0; i < c; i++) {
            float s = r[i] * scale[i] + offset[i];
            o[i] = s / (1.f + fast_exp(-beta[i] * s));
        }
    }
}
