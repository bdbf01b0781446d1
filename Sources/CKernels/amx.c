#include "ckernels.h"
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// The bf16 convolution GEMM on AMX tiles (Intel Sapphire Rapids and later):
// one tdpbf16ps multiplies a 16 x 32 bf16 tile by a 32 x 16 one into 16 x 16
// fp32 sums, many times the vdpbf16ps rate. B is tk_pack_bf16's layout, whose
// k-pair rows of 16 columns are exactly AMX's B tiles; A (the im2col rows) is
// gathered per block of 32 output positions, so that A tiles have one stride.

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,fma")))

int tk_has_amx(void) {
    static int state = -1;
    if (state >= 0) return state;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24)))
        // Linux hands out the tile state only on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
        ok = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    state = ok;
    return state;
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

// Tiles 0-3: C (2 x 2 blocks of 16 x 16 fp32); 4, 5: A (16 rows x 32 bf16); 6, 7: B.
AMX static void configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
    _tile_loadconfig(&cfg);
}

static _Thread_local uint16_t *a_buf;
static _Thread_local size_t a_cap;

AMX void tk_conv_bf16_amx(int M, int N, int cin, int taps, const uint16_t *const *rows, const uint16_t *Bp,
                          float *C, long ldc) {
    const int K = cin * taps, K32 = (K + 31) & ~31, Np = (N + 15) & ~15, pairs = K / 2;
    size_t need = (size_t)32 * K32;
    if (a_cap < need) {
        free(a_buf);
        a_buf = aligned_alloc(64, need * 2);
        a_cap = need;
    }
    uint16_t *A = a_buf;
    float cs[32 * 32] __attribute__((aligned(64)));
    uint16_t bs[16 * 64] __attribute__((aligned(64)));
    configure_tiles();
    for (int m0 = 0; m0 < M; m0 += 32) {
        int mr = M - m0 < 32 ? M - m0 : 32;
        for (int r = 0; r < 32; r++) {
            uint16_t *dst = A + (size_t)r * K32;
            if (r < mr) {
                for (int t = 0; t < taps; t++) memcpy(dst + t * cin, rows[(long)(m0 + r) * taps + t], cin * 2);
                memset(dst + K, 0, (K32 - K) * 2);
            } else {
                memset(dst, 0, K32 * 2);
            }
        }
        int two_a = mr > 16;
        for (int g0 = 0; g0 < Np; g0 += 64) {
            int wg = Np - g0 < 64 ? Np - g0 : 64;
            const uint16_t *Bg = Bp + (size_t)g0 * K;
            for (int c0 = 0; c0 < wg; c0 += 32) {
                int two_b = wg - c0 > 16;
                int cols = N - (g0 + c0);
                if (cols > 32) cols = 32;
                for (int r = 0; r < 32; r++)
                    for (int j = 0; j < 32; j++)
                        cs[r * 32 + j] = (r < mr && j < cols) ? C[(long)(m0 + r) * ldc + g0 + c0 + j] : 0.0f;
                _tile_loadd(0, cs, 128);
                _tile_loadd(1, cs + 16, 128);
                _tile_loadd(2, cs + 16 * 32, 128);
                _tile_loadd(3, cs + 16 * 32 + 16, 128);
                for (int kk = 0; kk < K32; kk += 32) {
                    int q = kk / 2;
                    const uint16_t *b = Bg + (size_t)q * wg * 2 + c0 * 2;
                    long bstride = (long)wg * 4;
                    if (q + 16 > pairs) {   // the last k-pairs: zero-padded copy
                        int have = pairs - q, w = two_b ? 64 : 32;
                        memset(bs, 0, sizeof bs);
                        for (int p = 0; p < have; p++) memcpy(bs + p * 64, b + (size_t)p * wg * 2, w * 2);
                        b = bs;
                        bstride = 128;
                    }
                    _tile_loadd(4, A + kk, K32 * 2);
                    _tile_loadd(6, b, bstride);
                    _tile_dpbf16ps(0, 4, 6);
                    if (two_b) { _tile_loadd(7, b + 32, bstride); _tile_dpbf16ps(1, 4, 7); }
                    if (two_a) {
                        _tile_loadd(5, A + (size_t)16 * K32 + kk, K32 * 2);
                        _tile_dpbf16ps(2, 5, 6);
                        if (two_b) _tile_dpbf16ps(3, 5, 7);
                    }
                }
                _tile_stored(0, cs, 128);
                _tile_stored(1, cs + 16, 128);
                _tile_stored(2, cs + 16 * 32, 128);
                _tile_stored(3, cs + 16 * 32 + 16, 128);
                for (int r = 0; r < mr; r++)
                    memcpy(C + (long)(m0 + r) * ldc + g0 + c0, cs + r * 32, cols * 4);
            }
        }
    }
    _tile_release();
}
