// 3x3 convolution, stride 1, padding 1, as Winograd F(4x4, 3x3) on NHWC float32, with the
// bias and an optional per-channel PReLU fused into the output transform.
//
// Direct convolution spends 9 multiply-adds per input channel per output pixel; F(4x4, 3x3)
// spends 36 per 16 output pixels (2.25), at the price of two cheap linear transforms. Each
// thread takes a run of 4x4 output tiles and works through it in blocks small enough that
// the transformed input and the 36 products stay in its L2 cache; the transformed weights
// (36 x Cin x Cout) are prepared once by the caller. Built by `winograd.py` with
// -march=native on the machine that runs it, so the vectors are as wide as that CPU's.
//
// Built with -ffp-contract=fast: a * b + c becomes one fused multiply-add.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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
constexpr int kBlockTiles = 6 * kRows;  // tiles per block: 36 -> ~330 KB of buffers per thread
constexpr int kPoints = 36;             // 6 x 6 transformed positions per tile

typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

inline Vec splat(float s) { return Vec{} + s; }

// B^T x for one column of 6 (input transform of F(4, 3)).
inline void input_1d(const Vec x[6], Vec t[6]) {
    t[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];
    t[1] = -4.0f * (x[1] + x[2]) + x[3] + x[4];
    t[2] = 4.0f * (x[1] - x[2]) - x[3] + x[4];
    t[3] = 2.0f * (x[3] - x[1]) - x[2] + x[4];
    t[4] = 2.0f * (x[1] - x[3]) - x[2] + x[4];
    t[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];
}

// A^T m for one column of 6 (output transform of F(4, 3)).
inline void output_1d(const Vec m[6], Vec o[4]) {
    Vec a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + 2.0f * d;
    o[2] = a + 4.0f * c;
    o[3] = b + 8.0f * d + m[5];
}

struct Conv {
    const float* x;      // (n, h, w, cin)
    const float* u;      // (36, cin, cout): the transformed weights
    const float* bias;   // (cout)
    const float* slope;  // (cout) PReLU slopes, or null for none
    float* y;            // (n, h, w, cout)
    int n, h, w, cin, cout;
    int tiles_h, tiles_w;

    long tiles() const { return static_cast<long>(n) * tiles_h * tiles_w; }

    // The 6x6 input patch of `tile`, transformed, into v[36][kBlockTiles][cin] at row `slot`.
    void transform_input(long tile, int slot, float* v) const {
        const int img = static_cast<int>(tile / (tiles_h * tiles_w));
        const int rest = static_cast<int>(tile % (tiles_h * tiles_w));
        const int y0 = rest / tiles_w * 4 - 1, x0 = rest % tiles_w * 4 - 1;
        const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w;
        const float* base = x + static_cast<long>(img) * h * w * cin;
        for (int c = 0; c < cin; c += kLanes) {
            Vec d[6][6], t[6][6];
            for (int i = 0; i < 6; ++i) {
                for (int j = 0; j < 6; ++j) {
                    const int yy = y0 + i, xx = x0 + j;
                    d[i][j] = inside || (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                  ? load(base + (static_cast<long>(yy) * w + xx) * cin + c)
                                  : Vec{};
                }
            }
            for (int j = 0; j < 6; ++j) {  // columns
                Vec col[6], out[6];
                for (int i = 0; i < 6; ++i) col[i] = d[i][j];
                input_1d(col, out);
                for (int i = 0; i < 6; ++i) t[i][j] = out[i];
            }
            for (int i = 0; i < 6; ++i) {  // rows
                Vec out[6];
                input_1d(t[i], out);
                for (int j = 0; j < 6; ++j)
                    store(v + (static_cast<long>(i * 6 + j) * kBlockTiles + slot) * cin + c, out[j]);
            }
        }
    }

    // m[36][kBlockTiles][cout] at row `slot`, back to the 4x4 outputs of `tile`, plus bias
    // and PReLU; outputs past the image's edge are dropped.
    void transform_output(long tile, int slot, const float* m) const {
        const int img = static_cast<int>(tile / (tiles_h * tiles_w));
        const int rest = static_cast<int>(tile % (tiles_h * tiles_w));
        const int y0 = rest / tiles_w * 4, x0 = rest % tiles_w * 4;
        const int rows = std::min(4, h - y0), cols = std::min(4, w - x0);
        float* base = y + static_cast<long>(img) * h * w * cout;
        for (int c = 0; c < cout; c += kLanes) {
            Vec t[4][6];
            for (int j = 0; j < 6; ++j) {  // columns
                Vec col[6], out[4];
                for (int i = 0; i < 6; ++i)
                    col[i] = load(m + (static_cast<long>(i * 6 + j) * kBlockTiles + slot) * cout + c);
                output_1d(col, out);
                for (int i = 0; i < 4; ++i) t[i][j] = out[i];
            }
            const Vec b = load(bias + c);
            const Vec a = slope ? load(slope + c) : splat(1.0f);
            for (int i = 0; i < rows; ++i) {  // rows
                Vec out[4];
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

    void run(long first, long last) const {
        const long v_size = static_cast<long>(kPoints) * kBlockTiles * cin;
        const long m_size = static_cast<long>(kPoints) * kBlockTiles * cout;
        std::vector<float> buffer(v_size + m_size + 16);
        float* v = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(buffer.data()) + 63) & ~std::uintptr_t{63});
        float* m = v + v_size;
        for (long start = first; start < last; start += kBlockTiles) {
            const int count = static_cast<int>(std::min<long>(kBlockTiles, last - start));
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
    Conv conv{x, u, bias, slope, y, n, h, w, cin, cout, (h + 3) / 4, (w + 3) / 4};
    const long total = conv.tiles();
    // Padded rows in a block's last micro-kernel read whatever the buffer holds; harmless,
    // their products are never stored back.
    threads = static_cast<int>(std::max(1L, std::min<long>(threads, total / kRows)));
    const long share = (total + threads - 1) / threads;
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t)
        helpers.emplace_back([&conv, t, share, total] {
            conv.run(std::min(total, t * share), std::min(total, (t + 1) * share));
        });
    conv.run(0, std::min(total, share));
    for (auto& helper : helpers) helper.join();
    return 0;
}
}
