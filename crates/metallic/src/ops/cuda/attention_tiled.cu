// Causal grouped-query attention against a KV cache for many query tokens
// (prefill), FlashAttention-style: a block takes BR query tokens of one head
// and walks the cache in tiles of BC keys staged in shared memory, keeping
// each row's running max, running sum and output in registers, so scores
// exist only as one BR × BC tile in shared memory. Query token t sits at
// positions[t] (device memory) and attends to cache positions 0..=positions[t];
// query head h reads KV head h / (heads / kv_heads).
//
// 256 threads as 16 × 16: thread (ty, tx) scores rows 4ty..4ty+3 against keys
// tx and tx + 16 of the tile, and accumulates those rows' output dims
// 4tx + 64g .. 4tx + 64g + 3. Shared-memory reads are 16 bytes (rows padded by
// 4 floats, so a quarter warp's reads hit distinct banks). The next tile's
// keys and values are loaded into registers while this one is computed.
// PARAM is the head size (a multiple of 64, at most 256). f32 arithmetic.

#define HEAD_DIM PARAM
#define BR 64
#define BC 32
#define THREADS 256
#define QK_STRIDE (HEAD_DIM + 4)
#define P_STRIDE (BC + 4)
#define DIM_GROUPS (HEAD_DIM / 64)
#define LOADS (BC * HEAD_DIM / THREADS)

extern "C" __global__ void __launch_bounds__(THREADS)
attention_tiled(act_t *out, const act_t *q, const aux_t *k, const aux_t *v, u32 heads,
                u32 kv_heads, const u32 *positions, u32 tokens, u32 q_token_stride,
                u32 q_head_stride, u32 kv_pos_stride, u32 kv_head_stride,
                u32 out_token_stride, u32 out_head_stride, float scale) {
    extern __shared__ __align__(16) float smem[];
    float *qs = smem;                  // [BR][QK_STRIDE], scaled queries
    float *ks = qs + BR * QK_STRIDE;   // [BC][QK_STRIDE]
    float *vs = ks + BC * QK_STRIDE;   // [BC][HEAD_DIM]
    float *ps = vs + BC * HEAD_DIM;    // [BR][P_STRIDE], this tile's weights
    __shared__ u32 row_last[BR];
    u32 h = blockIdx.x, t0 = blockIdx.y * BR;
    u32 tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    u32 kv_head = h / (heads / kv_heads);
    const aux_t *kp = k + (u64)kv_head * kv_head_stride;
    const aux_t *vp = v + (u64)kv_head * kv_head_stride;

    // Rows past the last token attend to key 0 only and are not stored.
    for (u32 i = threadIdx.x; i < BR * HEAD_DIM; i += THREADS) {
        u32 r = i / HEAD_DIM, e = i % HEAD_DIM, t = t0 + r;
        float x = t < tokens ? to_f32(q[(u64)t * q_token_stride + (u64)h * q_head_stride + e]) : 0.0f;
        qs[r * QK_STRIDE + e] = x * scale;
    }
    if (threadIdx.x < BR) {
        u32 t = t0 + threadIdx.x;
        row_last[threadIdx.x] = t < tokens ? positions[t] : 0;
    }
    __syncthreads();
    u32 last = 0, my_last[4];
    for (int r = 0; r < BR; ++r) last = max(last, row_last[r]);
#pragma unroll
    for (int i = 0; i < 4; ++i) my_last[i] = row_last[4 * ty + i];

    // The tile of keys from `first`: keys past `last` (never written: may
    // hold anything) are not read and stage as 0.
    float k_next[LOADS], v_next[LOADS];
    auto fetch = [&](u32 first) {
#pragma unroll
        for (int n = 0; n < LOADS; ++n) {
            u32 i = threadIdx.x + n * THREADS, c = i / HEAD_DIM, e = i % HEAD_DIM, j = first + c;
            bool live = j <= last;
            u64 at = (u64)j * kv_pos_stride + e;
            k_next[n] = live ? to_f32(kp[at]) : 0.0f;
            v_next[n] = live ? to_f32(vp[at]) : 0.0f;
        }
    };
    fetch(0);

    float m[4], l[4], o[4][DIM_GROUPS][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        m[i] = NEG_INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int g = 0; g < DIM_GROUPS; ++g)
#pragma unroll
            for (int x = 0; x < 4; ++x) o[i][g][x] = 0.0f;
    }

    for (u32 first = 0; first <= last; first += BC) {
        __syncthreads(); // the previous tile's ks, vs, ps are read
#pragma unroll
        for (int n = 0; n < LOADS; ++n) {
            u32 i = threadIdx.x + n * THREADS, c = i / HEAD_DIM, e = i % HEAD_DIM;
            ks[c * QK_STRIDE + e] = k_next[n];
            vs[c * HEAD_DIM + e] = v_next[n];
        }
        __syncthreads();
        if (first + BC <= last) fetch(first + BC);

        // Scores of rows 4ty+i against keys tx and tx + 16.
        float s[4][2];
#pragma unroll
        for (int i = 0; i < 4; ++i) s[i][0] = s[i][1] = 0.0f;
#pragma unroll 4
        for (int e = 0; e < HEAD_DIM; e += 4) {
            float4 kq[2], qq[4];
#pragma unroll
            for (int c = 0; c < 2; ++c)
                kq[c] = *(const float4 *)&ks[(tx + 16 * c) * QK_STRIDE + e];
#pragma unroll
            for (int i = 0; i < 4; ++i) qq[i] = *(const float4 *)&qs[(4 * ty + i) * QK_STRIDE + e];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int c = 0; c < 2; ++c)
                    s[i][c] += qq[i].x * kq[c].x + qq[i].y * kq[c].y + qq[i].z * kq[c].z +
                               qq[i].w * kq[c].w;
        }

        // Online softmax per row; a row's 16 threads are one half warp.
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            float tile_max = NEG_INFINITY;
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                if (first + tx + 16 * c > my_last[i]) s[i][c] = NEG_INFINITY;
                tile_max = fmaxf(tile_max, s[i][c]);
            }
#pragma unroll
            for (int x = 8; x > 0; x >>= 1)
                tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, x));
            // Key 0 is in every row's range, so after the first tile m is finite.
            float m_new = fmaxf(m[i], tile_max);
            float keep = m[i] == NEG_INFINITY ? 0.0f : expf(m[i] - m_new);
            l[i] *= keep;
#pragma unroll
            for (int g = 0; g < DIM_GROUPS; ++g)
#pragma unroll
                for (int x = 0; x < 4; ++x) o[i][g][x] *= keep;
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                float p = s[i][c] == NEG_INFINITY ? 0.0f : expf(s[i][c] - m_new);
                l[i] += p;
                ps[(4 * ty + i) * P_STRIDE + tx + 16 * c] = p;
            }
            m[i] = m_new;
        }
        __syncthreads();

        // Output rows 4ty+i, dims 4tx + 64g + x, += weights · values.
#pragma unroll 2
        for (int c = 0; c < BC; c += 4) {
            float4 p4[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) p4[i] = *(const float4 *)&ps[(4 * ty + i) * P_STRIDE + c];
#pragma unroll
            for (int cc = 0; cc < 4; ++cc) {
#pragma unroll
                for (int g = 0; g < DIM_GROUPS; ++g) {
                    float4 v4 = *(const float4 *)&vs[(c + cc) * HEAD_DIM + 64 * g + 4 * tx];
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        float p = cc == 0 ? p4[i].x : cc == 1 ? p4[i].y : cc == 2 ? p4[i].z : p4[i].w;
                        o[i][g][0] += p * v4.x;
                        o[i][g][1] += p * v4.y;
                        o[i][g][2] += p * v4.z;
                        o[i][g][3] += p * v4.w;
                    }
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float sum = l[i];
#pragma unroll
        for (int x = 8; x > 0; x >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, x);
        u32 t = t0 + 4 * ty + i;
        if (t >= tokens) continue;
        act_t *op = out + (u64)t * out_token_stride + (u64)h * out_head_stride;
#pragma unroll
        for (int g = 0; g < DIM_GROUPS; ++g)
#pragma unroll
            for (int x = 0; x < 4; ++x) store_f32(op + 64 * g + 4 * tx + x, o[i][g][x] / sum);
    }
}
