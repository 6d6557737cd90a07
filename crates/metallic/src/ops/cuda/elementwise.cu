// Row-wise elementwise ops over matrices whose rows may be strided.

// x[r, c] += y[r, c]; y's row stride may be 0 (a bias broadcast over rows).
extern "C" __global__ void add_rows(act_t *x, const aux_t *y, u32 rows, u32 cols,
                                    u32 x_row_stride, u32 y_row_stride) {
    u64 total = (u64)rows * cols;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (u64)gridDim.x * blockDim.x) {
        u64 r = i / cols, c = i % cols;
        act_t *p = x + r * x_row_stride + c;
        store_f32(p, to_f32(*p) + to_f32(y[r * y_row_stride + c]));
    }
}

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g)).
extern "C" __global__ void swiglu(act_t *out, const act_t *gate, const act_t *up, u32 rows,
                                  u32 cols, u32 out_row_stride, u32 gate_row_stride,
                                  u32 up_row_stride) {
    u64 total = (u64)rows * cols;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (u64)gridDim.x * blockDim.x) {
        u64 r = i / cols, c = i % cols;
        float g = to_f32(gate[r * gate_row_stride + c]);
        float u = to_f32(up[r * up_row_stride + c]);
        store_f32(out + r * out_row_stride + c, g / (1.0f + expf(-g)) * u);
    }
}

// dst row positions[t] = src row t (+ bias, a row of f32 when has_bias):
// a batch's keys or values written into the KV cache at their positions
// (device memory, so a captured graph replays at any position).
extern "C" __global__ void store_rows(act_t *dst, const aux_t *src, const float *bias,
                                      u32 has_bias, const u32 *positions, u32 rows, u32 cols,
                                      u32 dst_row_stride, u32 src_row_stride) {
    u64 total = (u64)rows * cols;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (u64)gridDim.x * blockDim.x) {
        u64 r = i / cols, c = i % cols;
        float v = to_f32(src[r * src_row_stride + c]);
        if (has_bias) v += bias[c];
        store_f32(dst + (u64)positions[r] * dst_row_stride + c, v);
    }
}
