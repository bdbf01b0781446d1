// The C kernels, one area per heading and one prefix per area:
//   ck_  runtime: CPU features (cpu.c), the thread pool (pool.c), the heap (heap.c)
//   tk_  tokenizer: convolution GEMMs (conv_gemm.c, amx.c), group norm (groupnorm.c)
//   pk_  PAR engine: few-row products (fewrows.c), softmax and SwiGLU gate
//        (softmax.c), attention (attention.c), sampler passes (sampler.c)
// AVX-512 kernels carry their own target attributes; callers check
// ck_has_avx512() / ck_has_avx512_bf16() and fall back to BLAS or Swift SIMD.
#pragma once
#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------- ck_ runtime

int ck_has_avx512(void);
int ck_has_avx512_bf16(void);

// The CPUs this process may run on (its affinity mask: taskset, cpusets,
// srun -c), or 0 when unknown.
int ck_available_cpus(void);

// Runs fn(ctx, chunk, worker) for every chunk < chunks on the caller (worker 0)
// and threads - 1 helper threads (workers 1...), each claiming the next chunk as it
// finishes one; returns when all are done. Returns 0 without running anything when
// threads < 2 or another region is running (the caller then runs the chunks itself).
typedef void (*ck_chunk_fn)(void *ctx, long chunk, int worker);
int ck_pool_run(long chunks, int threads, ck_chunk_fn fn, void *ctx);

// The next unclaimed chunk index (atomic fetch-and-add): threads take chunks
// as they finish, so a thread the hypervisor stalls holds up no other.
long ck_claim(long *counter);

// Keep freed large blocks in the heap for reuse (glibc mallopt), instead of
// unmapping them: the tokenizer allocates activations of tens of MB per layer.
void ck_keep_freed_memory(void);
// Give free heap pages back to the kernel now (glibc malloc_trim).
void ck_release_freed_memory(void);

// -------------------------------------------------------------- tk_ tokenizer

// Convolution GEMMs: C[M][N] += A[M][K] * B, B packed once per layer (columns
// grouped by 64, zero padded to a multiple of 16). fp32 uses FMA; bf16 uses
// vdpbf16ps (AVX512_BF16) with fp32 accumulation.
// Packed sizes in elements (floats / uint16).
size_t tk_packed_size_f32(int K, int N);
size_t tk_packed_size_bf16(int K, int N);   // K rounded up to even

// w: [K][N] row-major fp32.
void tk_pack_f32(int K, int N, const float *w, float *out);
void tk_pack_bf16(int K, int N, const float *w, uint16_t *out);

// Convolution as implicit GEMM: C[M][N] += A[M][K] * B with K = taps * cin and
// A's row m, taps t, read from rows[m * taps + t] (cin contiguous values).
// bf16: cin even; B from tk_pack_bf16 with K = taps * cin.
void tk_conv_f32(int M, int N, int cin, int taps, const float *const *rows, const float *Bp, float *C, long ldc);
void tk_conv_bf16(int M, int N, int cin, int taps, const uint16_t *const *rows, const uint16_t *Bp, float *C, long ldc);

// fp32 -> bf16, round to nearest even.
void tk_f32_to_bf16(long n, const float *src, uint16_t *dst);

// AMX (amx-tile, amx-bf16, and the kernel's permission to use tiles): 1 or 0.
int tk_has_amx(void);
// tk_conv_bf16 on AMX tiles: same operands and result (fp32 sums in another order).
void tk_conv_bf16_amx(int M, int N, int cin, int taps, const uint16_t *const *rows, const uint16_t *Bp, float *C, long ldc);

// Group norm + Swish helpers on channels-last rows (n positions x c channels).
// sums[c] += sum over positions of (x - center[c])^power (power 1 or 2;
// center may be NULL for power 1), accumulated in float per 64 positions.
void tk_channel_sums(long n, int c, const float *x, const float *center, int power, double *sums);
// y = s * sigmoid(beta * s) with s = x * scale[c] + offset[c].
void tk_affine_swish(long n, int c, const float *x, float *y, const float *scale, const float *offset, const float *beta);

// ------------------------------------------------------------- pk_ PAR engine

// Few-row product (AVX-512): y[r * ldy + j] = sum_i x[r * k + i] * W[j][i] for
// r < rows and j0 <= j < j0 + cols; W row-major with k columns, stored as
// PK_F32, PK_F16 or PK_BF16.
enum { PK_F32 = 0, PK_F16 = 1, PK_BF16 = 2 };
void pk_fewrows(int rows, int k, const float *x, const void *w, int dtype, int j0, int cols, float *y, long ldy);
// The same for bf16 weights and bf16 inputs x (rows x k, from tk_f32_to_bf16), fp32
// sums (AVX512_BF16 vdpbf16ps); k even.
void pk_fewrows_bf16dot(int rows, int k, const uint16_t *x, const uint16_t *w, int j0, int cols, float *y, long ldy);

// Softmax of r[0..<limit) in place (AVX-512, vector exp), r[limit..<len) = 0.
void pk_softmax_row(float *r, int limit, int len);
// a[i] = silu(a[i]) * b[i] for i < n (AVX-512, vector exp).
void pk_silu_mul(float *a, const float *b, long n);

// Attention of `rows` queries (q, row stride qstride) against L cached keys and
// values ([L][hd] each) of one head: query j sees keys [0, limits[j]), max = L.
// scores: rows x L scratch; out: rows x hd, row stride ostride. AVX-512; returns 0
// (and does nothing) when hd > 128.
int pk_attention_head(int rows, int hd, const float *q, long qstride, const float *k, const float *v,
                      int L, const int *limits, float scale, float *scores, float *out, long ostride);

// Sampler passes over one row of logits. x[i] *= s for every i; returns the max.
float pk_scale_max(float *x, int n, float s);
// The k-th largest value of x[0..<n) (1 <= k <= n), exactly; x unchanged. scratch: n values.
float pk_kth_largest(const float *x, int n, int k, uint32_t *scratch);
// Writes the indices i with x[i] >= threshold in increasing order; returns their count
// (out: n slots).
int pk_indices_at_least(const float *x, int n, float threshold, int32_t *out);
