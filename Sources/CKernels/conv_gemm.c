#include "ckernels.h"
#include "lanes.h"
#include <string.h>

#define MR 6     // rows (positions) per micro tile
#define GW 64    // columns per packed group (4 zmm)
#define KC 128   // depth per cache block (pairs for bf16): a 128 x 64 fp32 slice of B (32 KB) stays in L1

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

static inline int round16(int n) { return (n + 15) & ~15; }
static inline int imin(int a, int b) { return a < b ? a : b; }

size_t tk_packed_size_f32(int K, int N) { return (size_t)K * round16(N); }
size_t tk_packed_size_bf16(int K, int N) { return (size_t)((K + 1) & ~1) * round16(N); }

static inline uint16_t bf16_rne(float x) {
    uint32_t u; memcpy(&u, &x, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// Layout: group g (columns g*64 ..) holds K rows of its width w (64, or the
// 16-multiple tail): out[g*64*K + k*w + j].
void tk_pack_f32(int K, int N, const float *w, float *out) {
    int Np = round16(N);
    for (int g0 = 0; g0 < Np; g0 += GW) {
        int wg = imin(GW, Np - g0);
        float *o = out + (size_t)g0 * K;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < wg; j++)
                o[(size_t)k * wg + j] = g0 + j < N ? w[(size_t)k * N + g0 + j] : 0.0f;
    }
}

// bf16: pairs of k interleaved per column: out[g*64*Kp + (k/2)*w*2 + j*2 + k%2].
void tk_pack_bf16(int K, int N, const float *w, uint16_t *out) {
    int Np = round16(N), Kp = (K + 1) & ~1;
    for (int g0 = 0; g0 < Np; g0 += GW) {
        int wg = imin(GW, Np - g0);
        uint16_t *o = out + (size_t)g0 * Kp;
        for (int k = 0; k < Kp; k++)
            for (int j = 0; j < wg; j++)
                o[(size_t)(k / 2) * wg * 2 + j * 2 + (k & 1)] =
                    (k < K && g0 + j < N) ? bf16_rne(w[(size_t)k * N + g0 + j]) : 0;
    }
}

// One MR x (16*NB) tile over kc steps; rows >= mr read row mr-1 and are not stored.
// MICRO_BF16 and tk_conv_bf16 below are the bf16 (vdpbf16ps) variants of this
// kernel and of tk_conv_f32: the same tiling, kept apart for their own intrinsics.
#define MICRO_F32(NB)                                                                          \
AVX512 static void micro_f32_##NB(int mr, int kc, const float *const *ap, long off, const float *B, \
                                  int wg, float *C, long ldc, int valid) {                     \
    __m512 acc[MR][NB];                                                                        \
    const float *a[MR];                                                                        \
    for (int r = 0; r < MR; r++) {                                                             \
        a[r] = ap[imin(r, mr - 1)] + off;                                                      \
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_ps();                          \
    }                                                                                          \
    for (int k = 0; k < kc; k++) {                                                             \
        __m512 b[NB];                                                                          \
        for (int j = 0; j < NB; j++) b[j] = _mm512_loadu_ps(B + (long)k * wg + 16 * j);        \
        for (int r = 0; r < MR; r++) {                                                         \
            __m512 av = _mm512_set1_ps(a[r][k]);                                               \
            for (int j = 0; j < NB; j++) acc[r][j] = _mm512_fmadd_ps(av, b[j], acc[r][j]);     \
        }                                                                                      \
    }                                                                                          \
    for (int r = 0; r < mr; r++)                                                               \
        for (int j = 0; j < NB; j++) {                                                         \
            __mmask16 m = lanes_below(valid, 16 * j);                                          \
            float *c = C + (long)r * ldc + 16 * j;                                             \
            _mm512_mask_storeu_ps(c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), acc[r][j])); \
        }                                                                                      \
}
MICRO_F32(1)
MICRO_F32(2)
MICRO_F32(3)
MICRO_F32(4)

#define MICRO_BF16(NB)                                                                         \
AVX512BF16 static void micro_bf16_##NB(int mr, int kp, const uint16_t *const *ap, long off,    \
                                       const uint16_t *B, int wg, float *C, long ldc, int valid) { \
    __m512 acc[MR][NB];                                                                        \
    const uint16_t *a[MR];                                                                     \
    for (int r = 0; r < MR; r++) {                                                             \
        a[r] = ap[imin(r, mr - 1)] + off;                                                      \
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_ps();                          \
    }                                                                                          \
    for (int k = 0; k < kp; k++) {                                                             \
        __m512bh b[NB];                                                                        \
        for (int j = 0; j < NB; j++)                                                           \
            b[j] = (__m512bh)_mm512_loadu_si512(B + (long)k * wg * 2 + 32 * j);                \
        for (int r = 0; r < MR; r++) {                                                         \
            int32_t pair; memcpy(&pair, a[r] + 2 * k, 4);                                      \
            __m512bh av = (__m512bh)_mm512_set1_epi32(pair);                                   \
            for (int j = 0; j < NB; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], av, b[j]);    \
        }                                                                                      \
    }                                                                                          \
    for (int r = 0; r < mr; r++)                                                               \
        for (int j = 0; j < NB; j++) {                                                         \
            __mmask16 m = lanes_below(valid, 16 * j);                                          \
            float *c = C + (long)r * ldc + 16 * j;                                             \
            _mm512_mask_storeu_ps(c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), acc[r][j])); \
        }                                                                                      \
}
MICRO_BF16(1)
MICRO_BF16(2)
MICRO_BF16(3)
MICRO_BF16(4)

// Implicit im2col: row m of A for tap t is rows[m * taps + t] (cin values),
// so A is never materialised. Depth blocks (tap, channel block) outermost so
// one depth slice of B and of the rows stays in L2 while all tiles use it.
AVX512 void tk_conv_f32(int M, int N, int cin, int taps, const float *const *rows, const float *Bp, float *C, long ldc) {
    int Np = round16(N), K = cin * taps;
    const float *ap[MR];
    for (int t = 0; t < taps; t++)
        for (int c0 = 0; c0 < cin; c0 += KC) {
            int kc = imin(KC, cin - c0), k0 = t * cin + c0;
            for (int g0 = 0; g0 < Np; g0 += GW) {
                int wg = imin(GW, Np - g0), valid = N - g0;
                const float *B = Bp + (size_t)g0 * K + (size_t)k0 * wg;
                for (int m = 0; m < M; m += MR) {
                    int mr = imin(MR, M - m);
                    for (int r = 0; r < mr; r++) ap[r] = rows[(long)(m + r) * taps + t];
                    float *c = C + (long)m * ldc + g0;
                    switch (wg / 16) {
                    case 4: micro_f32_4(mr, kc, ap, c0, B, wg, c, ldc, valid); break;
                    case 3: micro_f32_3(mr, kc, ap, c0, B, wg, c, ldc, valid); break;
                    case 2: micro_f32_2(mr, kc, ap, c0, B, wg, c, ldc, valid); break;
                    default: micro_f32_1(mr, kc, ap, c0, B, wg, c, ldc, valid); break;
                    }
                }
            }
        }
}

// bf16: cin must be even (pairs of channels never straddle taps).
AVX512BF16 void tk_conv_bf16(int M, int N, int cin, int taps, const uint16_t *const *rows, const uint16_t *Bp, float *C, long ldc) {
    int Np = round16(N), K = cin * taps, cp = cin / 2;
    const uint16_t *ap[MR];
    for (int t = 0; t < taps; t++)
        for (int p0 = 0; p0 < cp; p0 += KC) {
            int kp = imin(KC, cp - p0), q0 = (t * cin) / 2 + p0;
            for (int g0 = 0; g0 < Np; g0 += GW) {
                int wg = imin(GW, Np - g0), valid = N - g0;
                const uint16_t *B = Bp + (size_t)g0 * K + (size_t)q0 * wg * 2;
                for (int m = 0; m < M; m += MR) {
                    int mr = imin(MR, M - m);
                    for (int r = 0; r < mr; r++) ap[r] = rows[(long)(m + r) * taps + t];
                    float *c = C + (long)m * ldc + g0;
                    switch (wg / 16) {
                    case 4: micro_bf16_4(mr, kp, ap, 2 * p0, B, wg, c, ldc, valid); break;
                    case 3: micro_bf16_3(mr, kp, ap, 2 * p0, B, wg, c, ldc, valid); break;
                    case 2: micro_bf16_2(mr, kp, ap, 2 * p0, B, wg, c, ldc, valid); break;
                    default: micro_bf16_1(mr, kp, ap, 2 * p0, B, wg, c, ldc, valid); break;
                    }
                }
            }
        }
}

AVX512BF16 static void f32_to_bf16_avx(long n, const float *src, uint16_t *dst) {
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, (__m512i)v);
    }
    for (; i < n; i++) dst[i] = bf16_rne(src[i]);
}

void tk_f32_to_bf16(long n, const float *src, uint16_t *dst) {
    if (ck_has_avx512_bf16()) { f32_to_bf16_avx(n, src, dst); return; }
    for (long i = 0; i < n; i++) dst[i] = bf16_rne(src[i]);
}
