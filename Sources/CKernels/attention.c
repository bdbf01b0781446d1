#include "ckernels.h"
#include "lanes.h"

// Decode attention for one (sequence, head): the queries of a step against the
// cached keys and values, read once each. OpenBLAS's sgemm packed the keys for
// every call (twice the traffic at 4-32 queries) and its sgemv left a third of
// the bandwidth unused; attention was 10-14% of a paper-scale step. Keys and
// values are prefetched 64 keys ahead (7-14% over the hardware prefetcher alone,
// 1-16 queries).
//
// Each score q_j . k_c is a lane-wise sum over the head's 16-float vectors, then
// a fixed reduction tree, so it does not depend on the number of queries; each
// output sum runs over the keys in order, likewise.

#define AVX512 __attribute__((target("avx512f,avx512dq,fma")))

// Lane t of the result = the sum of the 16 lanes of a[t].
AVX512 static inline __m512 reduce16(__m512 a[16]) {
    __m512 s1[8], s2[4], s3[2];
    for (int i = 0; i < 8; i++)  // 128-bit groups: [a0+a2, a1+a3] of a[2i], then of a[2i+1]
        s1[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                              _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; i++)  // group g: 4 partial sums of key 4i + g
        s2[i] = _mm512_add_ps(_mm512_shuffle_f32x4(s1[2 * i], s1[2 * i + 1], 0x88),
                              _mm512_shuffle_f32x4(s1[2 * i], s1[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; i++)  // group g: 2 partials of keys (8i + g, 8i + 4 + g), interleaved
        s3[i] = _mm512_add_ps(_mm512_unpacklo_ps(s2[2 * i], s2[2 * i + 1]),
                              _mm512_unpackhi_ps(s2[2 * i], s2[2 * i + 1]));
    // group g: the sums of keys g, 4 + g, 8 + g, 12 + g
    __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(s3[0]), _mm512_castps_pd(s3[1]))),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(s3[0]), _mm512_castps_pd(s3[1]))));
    // lane 4g + m holds key 4m + g
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, s);
}

// NV 16-float vectors per head (hd <= 16 NV; lanes past hd are masked to zero).
#define HEAD(NV)                                                                                   \
AVX512 static void head_##NV(int rows, int hd, const float *q, long qstride, const float *k,        \
                             const float *v, int L, const int *limits, float scale, float *sc,     \
                             float *out, long ostride) {                                           \
    __mmask16 hm[NV];                                                                              \
    for (int u = 0; u < NV; u++) hm[u] = lanes_below(hd, 16 * u);                                  \
    /* scores: 16 keys at a time, each query against the block while it is in L1 */               \
    for (int c0 = 0; c0 < L; c0 += 16) {                                                           \
        int nk = L - c0 < 16 ? L - c0 : 16;                                                        \
        if (c0 + 64 < L)                                                                           \
            for (long b = 0; b < 16L * hd * 4; b += 64) _mm_prefetch((const char *)(k + (long)(c0 + 64) * hd) + b, _MM_HINT_T0); \
        for (int j = 0; j < rows; j++) {                                                           \
            __m512 qv[NV], acc[16];                                                                \
            for (int u = 0; u < NV; u++) qv[u] = _mm512_maskz_loadu_ps(hm[u], q + j * qstride + 16 * u); \
            for (int t = 0; t < 16; t++) {                                                         \
                const float *kc = k + (long)(c0 + (t < nk ? t : 0)) * hd;                          \
                __m512 a = _mm512_mul_ps(qv[0], _mm512_maskz_loadu_ps(hm[0], kc));                 \
                for (int u = 1; u < NV; u++)                                                       \
                    a = _mm512_fmadd_ps(qv[u], _mm512_maskz_loadu_ps(hm[u], kc + 16 * u), a);      \
                acc[t] = a;                                                                        \
            }                                                                                      \
            _mm512_mask_storeu_ps(sc + (long)j * L + c0, lanes_below(nk, 0),                       \
                                  _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)));            \
        }                                                                                          \
    }                                                                                              \
    for (int j = 0; j < rows; j++) pk_softmax_row(sc + (long)j * L, limits[j], L);                 \
    /* out_j = sum over keys of p[j, c] v_c: RT queries share each value vector */                 \
    enum { RT = NV >= 4 ? 24 / NV : 8 };                                                           \
    for (int j0 = 0; j0 < rows; j0 += RT) {                                                        \
        int nr = rows - j0 < RT ? rows - j0 : RT;                                                  \
        __m512 acc[RT][NV];                                                                        \
        for (int r = 0; r < RT; r++)                                                               \
            for (int u = 0; u < NV; u++) acc[r][u] = _mm512_setzero_ps();                          \
        for (int c = 0; c < L; c++) {                                                              \
            if (c + 64 < L && j0 == 0)                                                             \
                for (long b = 0; b < (long)hd * 4; b += 64) _mm_prefetch((const char *)(v + (long)(c + 64) * hd) + b, _MM_HINT_T0); \
            __m512 vv[NV];                                                                         \
            for (int u = 0; u < NV; u++) vv[u] = _mm512_maskz_loadu_ps(hm[u], v + (long)c * hd + 16 * u); \
            for (int r = 0; r < RT; r++) {                                                         \
                if (r >= nr) break;                                                                \
                __m512 p = _mm512_set1_ps(sc[(long)(j0 + r) * L + c]);                             \
                for (int u = 0; u < NV; u++) acc[r][u] = _mm512_fmadd_ps(p, vv[u], acc[r][u]);     \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < nr; r++)                                                               \
            for (int u = 0; u < NV; u++)                                                           \
                _mm512_mask_storeu_ps(out + (j0 + r) * ostride + 16 * u, hm[u], acc[r][u]);        \
    }                                                                                              \
}
HEAD(1)
HEAD(2)
HEAD(4)
HEAD(8)

int pk_attention_head(int rows, int hd, const float *q, long qstride, const float *k, const float *v,
                      int L, const int *limits, float scale, float *scores, float *out, long ostride) {
    if (hd <= 16) head_1(rows, hd, q, qstride, k, v, L, limits, scale, scores, out, ostride);
    else if (hd <= 32) head_2(rows, hd, q, qstride, k, v, L, limits, scale, scores, out, ostride);
    else if (hd <= 64) head_4(rows, hd, q, qstride, k, v, L, limits, scale, scores, out, ostride);
    else if (hd <= 128) head_8(rows, hd, q, qstride, k, v, L, limits, scale, scores, out, ostride);
    else return 0;
    return 1;
}
