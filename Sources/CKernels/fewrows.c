#include "ckernels.h"
#include "lanes.h"

// Few-row products y = x W^T for the transformer's decode steps (a handful of
// rows against a weight matrix read once from memory). Four weight rows (one
// or two input rows) or six (k-blocked, from 3 input rows on) are streamed side
// by side; each (row, output) pair has its own zmm accumulator, reduced at the end,
// so a sum does not depend on the row count, the blocking or the thread count.
//
// The weight rows of a block are not neighbours: a call's range of cols outputs is
// cut into NW runs of q = cols / NW rows, and block t takes row t of every run, so
// the block's streams lie q rows apart and each run is read front to back. Against
// neighbouring rows (one 20-30 KB stretch read as 4-6 interleaved streams) this
// reads 5-14% faster at every row count here (1 to 32 rows; a bandwidth probe with
// streams megabytes apart reads ~30% faster than neighbouring rows did).

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))

AVX512 static inline __m512 load_f32(const void *w, long i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)w + i);
}
AVX512 static inline __m512 load_f16(const void *w, long i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
}
AVX512 static inline __m512 load_bf16(const void *w, long i, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i)), 16));
}

// bf16 weights against bf16 inputs on AVX512_BF16 (kind `dot`): one vdpbf16ps multiplies
// 32 bf16 pairs into 16 fp32 sums, so a 64-byte weight load feeds each input row with
// one instruction instead of a widening, a shift and two FMAs. The input rows are
// rounded to bf16 by the caller (tk_f32_to_bf16). Measured on PAR-XL's shapes, two
// threads: 1.3x the widening kernel at 8 rows, 1.7-1.9x at 32 rows.
#define DOT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

// 32 bf16 (16 pairs) at column i of a row; m masks pairs.
DOT static inline __m512bh load_pairs(const uint16_t *p, long i, __mmask16 m) {
    return (__m512bh)_mm512_maskz_loadu_epi32(m, p + i);
}
static inline __mmask16 pairs_below(long k, long i) { return lanes_below(k / 2, i / 2); }

// One kernel family for four kinds of product, by what differs between them: the
// target, the input row type, the weight vector type, the columns one step covers,
// the loads, the multiply-add, the step mask and the weight element's bytes.
// f32, f16, bf16: weights widened to fp32, fp32 inputs, FMA.
#define ATTR_f32 AVX512
#define ATTR_f16 AVX512
#define ATTR_bf16 AVX512
#define ATTR_dot DOT
#define XT_f32 float
#define XT_f16 float
#define XT_bf16 float
#define XT_dot uint16_t
#define WT_f32 __m512
#define WT_f16 __m512
#define WT_bf16 __m512
#define WT_dot __m512bh
#define STEP_f32 16
#define STEP_f16 16
#define STEP_bf16 16
#define STEP_dot 32
#define LOADW_f32(p, i, m) load_f32(p, i, m)
#define LOADW_f16(p, i, m) load_f16(p, i, m)
#define LOADW_bf16(p, i, m) load_bf16(p, i, m)
#define LOADW_dot(p, i, m) load_pairs((const uint16_t *)(p), i, m)
#define LOADX_f32(p, i, m) _mm512_maskz_loadu_ps(m, (p) + (i))
#define LOADX_f16 LOADX_f32
#define LOADX_bf16 LOADX_f32
#define LOADX_dot(p, i, m) load_pairs(p, i, m)
#define MADD_f32(a, x, w) _mm512_fmadd_ps(x, w, a)
#define MADD_f16 MADD_f32
#define MADD_bf16 MADD_f32
#define MADD_dot(a, x, w) _mm512_dpbf16_ps(a, x, w)
#define MASK_f32(k, i) lanes_below(k, i)
#define MASK_f16 MASK_f32
#define MASK_bf16 MASK_f32
#define MASK_dot(k, i) pairs_below(k, i)
enum { sizeof_f32 = 4, sizeof_f16 = 2, sizeof_bf16 = 2, sizeof_dot = 2 };

// R (1 or 2) input rows against four weight rows w[0..3], of kind T. No
// software prefetch: the four streams run front to back, the hardware prefetcher
// follows them, and prefetching the next block's rows measured slower (BENCHMARKS.md).
#define BLOCK(R, T)                                                                                \
ATTR_##T static void block_##R##_##T(const XT_##T *x, long ldx, const void *const *w, int k,     \
                                     float *y, long ldy, const int *jr, int nj) {                 \
    __m512 acc[R][4];                                                                              \
    for (int r = 0; r < R; r++)                                                                    \
        for (int p = 0; p < 4; p++) acc[r][p] = _mm512_setzero_ps();                               \
    for (long i = 0; i < k; i += STEP_##T) {                                                       \
        __mmask16 m = MASK_##T(k, i);                                                              \
        WT_##T wv[4];                                                                              \
        for (int p = 0; p < 4; p++) wv[p] = LOADW_##T(w[p], i, m);                                 \
        for (int r = 0; r < R; r++) {                                                              \
            WT_##T xv = LOADX_##T(x + r * ldx, i, m);                                              \
            for (int p = 0; p < 4; p++) acc[r][p] = MADD_##T(acc[r][p], xv, wv[p]);                \
        }                                                                                          \
    }                                                                                              \
    for (int r = 0; r < R; r++)                                                                    \
        for (int p = 0; p < nj; p++) y[r * ldy + jr[p]] = _mm512_reduce_add_ps(acc[r][p]);         \
}

// The NW weight rows of block t (wr, output indices jr) and of block t + 1 (nx, to
// prefetch). The first q * NW rows of [j0, end) form NW runs of q rows, and block
// t < q takes row t of each; the rest (fewer than NW rows) form one last block of
// neighbours, where the last row repeats (its results are not stored).
#define WEIGHT_ROWS(NW, T)                                                                         \
    int jr[NW], nj = NW;                                                                           \
    const void *wr[NW];                                                                            \
    const char *nx[NW];                                                                            \
    for (int p = 0; p < NW; p++) {                                                                 \
        int j, jn;                                                                                 \
        if (t < q) {                                                                               \
            j = j0 + p * q + t;                                                                    \
            jn = t + 1 < q ? j + 1 : j0 + NW * q + p < end ? j0 + NW * q + p : j;                  \
        } else {                                                                                   \
            int first = j0 + NW * q;                                                               \
            nj = end - first;                                                                      \
            j = first + p < end ? first + p : end - 1;                                             \
            jn = j;                                                                                \
        }                                                                                          \
        jr[p] = j;                                                                                 \
        wr[p] = (const char *)w + (long)j * k * sizeof_##T;                                        \
        nx[p] = (const char *)w + (long)jn * k * sizeof_##T;                                       \
    }

// One or two input rows against block t of four weight rows.
#define PASS(T)                                                                                    \
BLOCK(1, T) BLOCK(2, T)                                                                            \
ATTR_##T static void pass_##T(int rows, int k, const XT_##T *x, const void *w,                    \
                            int j0, int q, int t, int end, float *y, long ldy) {                   \
    WEIGHT_ROWS(4, T)                                                                              \
    if (rows == 2) block_2_##T(x, k, wr, k, y, ldy, jr, nj);                                   \
    else block_1_##T(x, k, wr, k, y, ldy, jr, nj);                                             \
}

// From 3 input rows: a block of KNW (6) weight rows is walked in chunks of
// columns, and each chunk serves every input row (four at a time: 24
// accumulators, 4 input vectors and 1 weight vector fill the 32 registers)
// while it is in L1; before, each pair of input rows re-read a block of eight
// weight rows from L2 (measured 1.35-1.6x faster from 3 to 47 rows on the
// paper's shapes with 3 x 8 tiles, and 4 x 6 tiles another 10-15% at 16-32 rows). Each
// (row, output) pair keeps its own accumulator across the chunks (in memory
// between them), so every sum is formed in the same order as in the unblocked
// kernel, bit for bit.
#define MIN(a, b) ((a) < (b) ? (a) : (b))
// Chunk depth and input rows per group: up to 47 rows, 128 columns and 32 rows (the
// group's 16 KB of input, its 12 KB of accumulators and the 3 KB weight chunk stay
// in L1). From 48 rows, 512 columns and 8 rows (16 KB of input, 12 KB of weights,
// 3 KB of accumulators): fewer accumulator spills and calls per chunk, at the price
// of re-reading the weight block from L2 once per 8 rows, which only pays with many
// groups (alternating runs on the 64000 x 1280 head, two threads: 1.06-1.09x at
// 48-256 rows, 0.98x at 32). The chunking never changes a sum (see above).
#define KGROUP_FEW 32  // the larger group: sizes the accumulator array
#define KC_FEW 128
#define KC_MANY 512
#define KGROUP_MANY 8
#define MANY_ROWS 48
#define KNW 6
// One step of a tile (16 columns, 32 for `dot`); M masks the step (all lanes in the main loop: a
// constant mask lets the compiler drop the per-step mask arithmetic, 6-9% at 16-32
// rows with the weights in cache).
#define KSTEP(R, T, M)                                                                             \
        {                                                                                          \
            WT_##T xv[R];                                                                          \
            for (int r = 0; r < R; r++) xv[r] = LOADX_##T(x + r * ldx, i, M);                      \
            if (pf < pf_end) {  /* one line of each of the next block's rows per step */          \
                for (int p = 0; p < KNW; p++) _mm_prefetch(next[p] + pf * sizeof_##T, _MM_HINT_T0); \
                pf += 64 / sizeof_##T;                                                             \
            }                                                                                      \
            for (int p = 0; p < KNW; p++) {                                                        \
                WT_##T wv = LOADW_##T(w[p], i, M);                                                 \
                for (int r = 0; r < R; r++) a[r][p] = MADD_##T(a[r][p], xv[r], wv);                \
            }                                                                                      \
        }
#define KTILE(R, T)                                                                                \
ATTR_##T static inline void ktile_##R##_##T(const XT_##T *x, long ldx, const void *const *w,    \
        long i0, long i1, long k, __m512 *acc, const char *const *next, long pf, long pf_end) {    \
    __m512 a[R][KNW];                                                                              \
    for (int r = 0; r < R; r++)                                                                    \
        for (int p = 0; p < KNW; p++) a[r][p] = acc[r * KNW + p];                                  \
    long full = i0 + (i1 - i0) / STEP_##T * STEP_##T, i = i0;                                      \
    for (; i < full; i += STEP_##T) KSTEP(R, T, (__mmask16)0xFFFF)                                 \
    if (i < i1) { __mmask16 m = MASK_##T(k, i); KSTEP(R, T, m) }                                   \
    for (; pf < pf_end; pf += 64 / sizeof_##T)                                                     \
        for (int p = 0; p < KNW; p++) _mm_prefetch(next[p] + pf * sizeof_##T, _MM_HINT_T0);        \
    for (int r = 0; r < R; r++)                                                                    \
        for (int p = 0; p < KNW; p++) acc[r * KNW + p] = a[r][p];                                  \
}
#define KPASS(T)                                                                                   \
KTILE(1, T) KTILE(2, T) KTILE(4, T)                                                                \
ATTR_##T static void kpass_##T(int rows, int k, const XT_##T *x, const void *w,                   \
                             int j0, int q, int t, int end, float *y, long ldy) {                  \
    WEIGHT_ROWS(KNW, T)                                                                            \
    __m512 acc[KGROUP_FEW * KNW];                                                                  \
    int many = rows >= MANY_ROWS, group = many ? KGROUP_MANY : KGROUP_FEW, kc = many ? KC_MANY : KC_FEW; \
    /* groups of input rows; after the first, the block comes from L2 */                         \
    for (int g0 = 0; g0 < rows; g0 += group) {                                                     \
        int gr = rows - g0 < group ? rows - g0 : group;                                            \
        const XT_##T *xg = x + (long)g0 * k;                                                       \
        for (int a = 0; a < gr * KNW; a++) acc[a] = _mm512_setzero_ps();                           \
        /* the tiles of a chunk share the prefetch of the next block's same chunk evenly */      \
        int tiles = gr / 4 + (gr % 4) / 2 + (gr % 4) % 2;                                          \
        for (long i0 = 0; i0 < k; i0 += kc) {                                                      \
            long i1 = i0 + kc < k ? i0 + kc : k;                                                   \
            long share = ((i1 - i0 + tiles - 1) / tiles + STEP_##T - 1) / STEP_##T * STEP_##T, pf = i0; \
            /* the first group prefetches, up to 12 rows: past that the product is compute     \
               bound and the prefetches cost more load slots than they save (4-8%) */          \
            long pf_last = g0 == 0 && rows <= 12 ? i1 : i0;                                        \
            int r = 0;                                                                             \
            for (; r + 4 <= gr; r += 4, pf += share)                                               \
                ktile_4_##T(xg + (long)r * k, k, wr, i0, i1, k, acc + r * KNW, nx, pf, MIN(pf + share, pf_last)); \
            for (; r + 2 <= gr; r += 2, pf += share)                                               \
                ktile_2_##T(xg + (long)r * k, k, wr, i0, i1, k, acc + r * KNW, nx, pf, MIN(pf + share, pf_last)); \
            for (; r < gr; r++, pf += share)                                                       \
                ktile_1_##T(xg + (long)r * k, k, wr, i0, i1, k, acc + r * KNW, nx, pf, MIN(pf + share, pf_last)); \
        }                                                                                          \
        for (int r = 0; r < gr; r++)                                                               \
            for (int p = 0; p < nj; p++)                                                           \
                y[(g0 + r) * ldy + jr[p]] = _mm512_reduce_add_ps(acc[r * KNW + p]);                \
    }                                                                                              \
}

// Up to 2 input rows: four weight rows at a time, unblocked (more memory streams
// than work; k-blocking gains nothing there). From 3 rows: the k-blocked pass.
#define ROWS(T)                                                                                    \
PASS(T)                                                                                            \
KPASS(T)                                                                                           \
ATTR_##T static void fewrows_##T(int rows, int k, const XT_##T *x, const void *w, int j0,         \
                               int cols, float *y, long ldy) {                                     \
    int end = j0 + cols, nw = rows >= 3 ? KNW : 4, q = cols / nw;                                  \
    int blocks = q + (cols % nw != 0);                                                             \
    for (int t = 0; t < blocks; t++) {                                                             \
        if (rows >= 3) kpass_##T(rows, k, x, w, j0, q, t, end, y, ldy);                            \
        else pass_##T(rows, k, x, w, j0, q, t, end, y, ldy);                                       \
    }                                                                                              \
}
ROWS(f32)
ROWS(f16)
ROWS(bf16)
ROWS(dot)

void pk_fewrows(int rows, int k, const float *x, const void *w, int dtype, int j0, int cols,
                float *y, long ldy) {
    switch (dtype) {
    case PK_F16: fewrows_f16(rows, k, x, w, j0, cols, y, ldy); break;
    case PK_BF16: fewrows_bf16(rows, k, x, w, j0, cols, y, ldy); break;
    default: fewrows_f32(rows, k, x, w, j0, cols, y, ldy); break;
    }
}

void pk_fewrows_bf16dot(int rows, int k, const uint16_t *x, const uint16_t *w, int j0, int cols, float *y, long ldy) {
    fewrows_dot(rows, k, x, w, j0, cols, y, ldy);
}
