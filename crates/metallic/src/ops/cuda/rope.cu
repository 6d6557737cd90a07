// NeoX-style rotary embedding, in place: in each head, element i pairs with
// i + head_dim/2 and both rotate by angle pos * base^(-2i/head_dim), where
// pos = positions[token] (device memory, so a captured graph replays at any
// position). The angle is formed in double precision:
// positions reach thousands of radians, where f32 would lose the phase.
extern "C" __global__ void rope(act_t *x, u32 tokens, u32 heads, u32 head_dim,
                                u32 token_stride, u32 head_stride, const u32 *positions,
                                float base) {
    u32 half = head_dim / 2;
    u64 total = (u64)tokens * heads * half;
    for (u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (u64)gridDim.x * blockDim.x) {
        u32 i = (u32)(idx % half);
        u64 th = idx / half;
        u32 h = (u32)(th % heads), t = (u32)(th / heads);
        act_t *p = x + (u64)t * token_stride + (u64)h * head_stride;
        double angle = (double)positions[t] *
                       pow((double)base, -2.0 * (double)i / (double)head_dim);
        float c = (float)cos(angle), s = (float)sin(angle);
        float x0 = to_f32(p[i]), x1 = to_f32(p[i + half]);
        store_f32(p + i, x0 * c - x1 * s);
        store_f32(p + i + half, x0 * s + x1 * c);
    }
}
