// 3x3 convolution, stride 1, padding 1, as Winograd F(6x6, 3x3) on NHWC float32, with the
// bias and an optional per-channel PReLU fused into the output transform.
//
// Direct convolution spends 9 multiply-adds per input channel per output pixel; F(6x6, 3x3)
// spends 64 per 36 output pixels (1.78), at the price of two cheap linear transforms (the
// interpolation points 0, +-1, +-2, +-1/2 and infinity, as in Lavin & Gray 2016). The
// threads take blocks of 6x6 output tiles, each the next one not yet taken, small enough that
// the transformed input and the 64 products stay in its L2 cache (taken, not shared out in
// equal runs: on a machine where another process holds one core, an equal share left the
// other core idle while the slowed thread finished); the transformed weights
// (64 x Cin x Cout) are prepared once by the caller (`winograd.transform_weights`). Built
// by `winograd.py` with -march=native on the machine that runs it, so the vectors are as
// wide as that CPU's.
//
// Built with -ffp-contract=fast: a * b + c becomes one fused multiply-add.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kRows = 6;  // tiles per micro-kernel: 6 x 4 vectors = 24 accumulators of 32
constexpr int kCols = 4;
#else
constexpr int kLanes = 8;
constexpr int kRows = 6;  // 6 x 2 = 12 accumulators of 16 registers
constexpr int kCols = 2;
#endif
constexpr int kTile = 6;                // outputs per tile side
constexpr int kSide = kTile + 2;        // inputs per tile side
constexpr int kPoints = kSide * kSide;  // transformed positions per tile
constexpr int kBlockTiles = 4 * kRows;  // tiles per block: ~800 KB of buffers per thread

typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

inline Vec splat(float s) { return Vec{} + s; }

// B^T x for one column of 8 (input transform of F(6, 3)).
inline void input_1d(const Vec x[kSide], Vec t[kSide]) {
    t[0] = x[0] - x[6] + 5.25f * (x[4] - x[2]);
    t[7] = x[7] - x[1] + 5.25f * (x[3] - x[5]);
    Vec a = x[2] + x[6] - 4.25f * x[4], b = x[1] + x[5] - 4.25f * x[3];
    t[1] = a + b;
    t[2] = a - b;
    a = x[6] + 0.25f * x[2] - 1.25f * x[4];
    b = 0.5f * x[1] - 2.5f * x[3] + 2.0f * x[5];
    t[3] = a + b;
    t[4] = a - b;
    a = x[6] + 4.0f * (x[2] - 1.25f * x[4]);
    b = 2.0f * x[1] - 2.5f * x[3] + 0.5f * x[5];
    t[5] = a + b;
    t[6] = a - b;
}
// A^T m for one column of 8 (output transform of F(6, 3)).
inline void output_1d(const Vec m[kSide], Vec o[kTile]) {
    const Vec a1 = m[1] + m[2], b1 = m[1] - m[2], a2 = m[3] + m[4], b2 = m[3] - m[4];
    const Vec a3 = m[5] + m[6], b3 = m[5] - m[6];
    o[0] = m[0] + a1 + a2 + a3;
    o[1] = b1 + 2.0f * b2 + 0.5f * b3;
    o[2] = a1 + 4.0f * a2 + 0.25f * a3;
    o[3] = b1 + 8.0f * b2 + 0.125f * b3;
    o[4] = a1 + 16.0f * a2 + 0.0625f * a3;
    o[5] = b1 + 32.0f * b2 + 0.03125f * b3 + m[7];
}

struct Conv {
    const float* x;      // (n, h, w, cin)
    const float* u;      // (64, cin, cout): the transformed weights
    const float* bias;   // (cout)
    const float* slope;  // (cout) PReLU slopes, or null for none
    float* y;            // (n, h, w, cout)
    int n, h, w, cin, cout;
    int tiles_h, tiles_w;

    long tiles() const { return static_cast<long>(n) * tiles_h * tiles_w; }

    // The 8x8 input patch of `tile`, transformed, into v[64][kBlockTiles][cin] at row `slot`.
    void transform_input(long tile, int slot, float* v) const {
        const int img = static_cast<int>(tile / (tiles_h * tiles_w));
        const int rest = static_cast<int>(tile % (tiles_h * tiles_w));
        const int y0 = rest / tiles_w * kTile - 1, x0 = rest % tiles_w * kTile - 1;
        const bool inside = y0 >= 0 && x0 >= 0 && y0 + kSide <= h && x0 + kSide <= w;
        const float* base = x + static_cast<long>(img) * h * w * cin;
        for (int c = 0; c < cin; c += kLanes) {
            Vec d[kSide][kSide], t[kSide][kSide];
            for (int i = 0; i < kSide; ++i) {
                for (int j = 0; j < kSide; ++j) {
                    const int yy = y0 + i, xx = x0 + j;
                    d[i][j] = inside || (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                  ? load(base + (static_cast<long>(yy) * w + xx) * cin + c)
                                  : Vec{};
                }
            }
            for (int j = 0; j < kSide; ++j) {  // columns
                Vec col[kSide], out[kSide];
                for (int i = 0; i < kSide; ++i) col[i] = d[i][j];
                input_1d(col, out);
                for (int i = 0; i < kSide; ++i) t[i][j] = out[i];
            }
            for (int i = 0; i < kSide; ++i) {  // rows
                Vec out[kSide];
                input_1d(t[i], out);
                for (int j = 0; j < kSide; ++j)
                    store(v + (static_cast<long>(i * kSide + j) * kBlockTiles + slot) * cin + c, out[j]);
            }
        }
    }

    // m[64][kBlockTiles][cout] at row `slot`, back to the 6x6 outputs of `tile`, plus bias
    // and PReLU; outputs past the image's edge are dropped.
    void transform_output(long tile, int slot, const float* m) const {
        const int img = static_cast<int>(tile / (tiles_h * tiles_w));
        const int rest = static_cast<int>(tile % (tiles_h * tiles_w));
        const int y0 = rest / tiles_w * kTile, x0 = rest % tiles_w * kTile;
        const int rows = std::min(kTile, h - y0), cols = std::min(kTile, w - x0);
        float* base = y + static_cast<long>(img) * h * w * cout;
        for (int c = 0; c < cout; c += kLanes) {
            Vec t[kTile][kSide];
            for (int j = 0; j < kSide; ++j) {  // columns
                Vec col[kSide], out[kTile];
                for (int i = 0; i < kSide; ++i)
                    col[i] = load(m + (static_cast<long>(i * kSide + j) * kBlockTiles + slot) * cout + c);
                output_1d(col, out);
                for (int i = 0; i < kTile; ++i) t[i][j] = out[i];
            }
            const Vec b = load(bias + c);
            const Vec a = slope ? load(slope + c) : splat(1.0f);
            for (int i = 0; i < rows; ++i) {  // rows
                Vec out[kTile];
                output_1d(t[i], out);
                for (int j = 0; j < cols; ++j) {
                    const Vec r = out[j] + b;
                    store(base + (static_cast<long>(y0 + i) * w + x0 + j) * cout + c,
                          r > 0.0f ? r : r * a);
                }
            }
        }
    }

    // m[p][r0..r0+kRows][c0..c0+cols*kLanes] = v[p][r0..][:] x u[p][:][c0..]
    template <int Cols>
    void multiply(const float* v, const float* u, float* m, int c0) const {
        Vec acc[kRows][Cols] = {};
        for (int k = 0; k < cin; ++k) {
            Vec b[Cols];
#pragma GCC unroll 4
            for (int j = 0; j < Cols; ++j) b[j] = load(u + static_cast<long>(k) * cout + c0 + j * kLanes);
#pragma GCC unroll 6
            for (int r = 0; r < kRows; ++r) {
                const Vec a = splat(v[r * cin + k]);
#pragma GCC unroll 4
                for (int j = 0; j < Cols; ++j) acc[r][j] += a * b[j];
            }
        }
        for (int r = 0; r < kRows; ++r)
            for (int j = 0; j < Cols; ++j) store(m + r * cout + c0 + j * kLanes, acc[r][j]);
    }

    // Works blocks of tiles, each the next untaken one from `next`, until none is left.
    void run(std::atomic<long>& next) const {
        const long total = tiles();
        const long v_size = static_cast<long>(kPoints) * kBlockTiles * cin;
        const long m_size = static_cast<long>(kPoints) * kBlockTiles * cout;
        std::vector<float> buffer(v_size + m_size + 16);
        float* v = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(buffer.data()) + 63) & ~std::uintptr_t{63});
        float* m = v + v_size;
        for (long start = next.fetch_add(kBlockTiles); start < total; start = next.fetch_add(kBlockTiles)) {
            const int count = static_cast<int>(std::min<long>(kBlockTiles, total - start));
            // A short last block still runs whole micro-kernels: its padding rows hold
            // zeros or an earlier block's data, and their products land in rows of `m`
            // that the output transform never reads.
            const int padded = (count + kRows - 1) / kRows * kRows;
            for (int s = 0; s < count; ++s) transform_input(start + s, s, v);
            for (int p = 0; p < kPoints; ++p) {
                const float* vp = v + static_cast<long>(p) * kBlockTiles * cin;
                const float* up = u + static_cast<long>(p) * cin * cout;
                float* mp = m + static_cast<long>(p) * kBlockTiles * cout;
                for (int r = 0; r < padded; r += kRows) {
                    int c0 = 0;
                    for (; c0 + kCols * kLanes <= cout; c0 += kCols * kLanes)
                        multiply<kCols>(vp + r * cin, up, mp + r * cout, c0);
                    for (; c0 < cout; c0 += kLanes) multiply<1>(vp + r * cin, up, mp + r * cout, c0);
                }
            }
            for (int s = 0; s < count; ++s) transform_output(start + s, s, m);
        }
    }
};

}  // namespace

extern "C" {

// The channel counts must be multiples of this (the vector width in floats).
int sharpr_winograd_lanes() { return kLanes; }

// y = PReLU(conv3x3(x) + bias) over `threads` threads (slope null: no PReLU). Returns 0, or
// -1 when the channel counts are not multiples of the vector width.
int sharpr_winograd_conv3x3(const float* x, const float* u, const float* bias, const float* slope,
                            float* y, int n, int h, int w, int cin, int cout, int threads) {
    if (cin % kLanes || cout % kLanes || n < 1 || h < 1 || w < 1) return -1;
    Conv conv{x, u, bias, slope, y, n, h, w, cin, cout, (h + kTile - 1) / kTile, (w + kTile - 1) / kTile};
    const long blocks = (conv.tiles() + kBlockTiles - 1) / kBlockTiles;
    threads = static_cast<int>(std::max(1L, std::min<long>(threads, blocks)));
    std::atomic<long> next{0};
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back([&conv, &next] { conv.run(next); });
    conv.run(next);
    for (auto& helper : helpers) helper.join();
    return 0;
}
}
