// Shared by every kernel source: storage types, conversions to and from f32
// (all arithmetic is f32), and decoders for GGUF's quantized blocks. Written
// without CUDA's headers so NVRTC needs no include path.
//
// A source is compiled with ACT, AUX (dtype codes: GGUF type ids) and PARAM.

#define DT_F32 0
#define DT_F16 1
#define DT_Q5_0 6
#define DT_Q8_0 8
#define DT_Q4_K 12
#define DT_Q6_K 14
#define DT_BF16 30

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define NEG_INFINITY __int_as_float(0xff800000)

struct f16 { u16 bits; };
struct bf16 { u16 bits; };

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float half_bits_to_f32(u16 bits) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits));
    return f;
}
__device__ __forceinline__ float to_f32(f16 x) { return half_bits_to_f32(x.bits); }
__device__ __forceinline__ float to_f32(bf16 x) { return __uint_as_float(((u32)x.bits) << 16); }

__device__ __forceinline__ void store_f32(float *p, float v) { *p = v; }
__device__ __forceinline__ void store_f32(f16 *p, float v) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p->bits = h;
}
__device__ __forceinline__ void store_f32(bf16 *p, float v) {
    // Round to nearest even; NaN stays NaN (quiet).
    u32 u = __float_as_uint(v);
    u16 bits = (u & 0x7fffffffu) > 0x7f800000u
        ? (u16)((u >> 16) | 0x40u)
        : (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    p->bits = bits;
}

#if ACT == DT_F32
typedef float act_t;
#elif ACT == DT_F16
typedef f16 act_t;
#elif ACT == DT_BF16
typedef bf16 act_t;
#endif

#if AUX == DT_F32
typedef float aux_t;
#elif AUX == DT_F16
typedef f16 aux_t;
#elif AUX == DT_BF16
typedef bf16 aux_t;
#endif

__device__ __forceinline__ u16 read_u16(const u8 *p) { return (u16)(p[0] | (p[1] << 8)); }

// Value j (0..31) of a Q8_0 block: f16 scale d, 32 signed bytes.
__device__ __forceinline__ float q8_0_value(const u8 *block, int j) {
    return half_bits_to_f32(read_u16(block)) * (float)(i8)block[2 + j];
}

// Value j (0..31) of a Q5_0 block: f16 d, 32 high bits, 16 bytes of low nibbles
// (values j and j + 16 share byte j % 16); value = d * (q - 16).
__device__ __forceinline__ float q5_0_value(const u8 *block, int j) {
    float d = half_bits_to_f32(read_u16(block));
    u32 qh = block[2] | (block[3] << 8) | (block[4] << 16) | ((u32)block[5] << 24);
    u8 byte = block[6 + (j & 15)];
    int low = j < 16 ? (byte & 0xf) : (byte >> 4);
    int q = low | (int)(((qh >> j) & 1u) << 4);
    return d * (float)(q - 16);
}

// Value j (0..255) of a Q4_K super-block: f16 d, f16 dmin, 12 bytes of 6-bit
// scales and mins for 8 sub-blocks of 32, 128 bytes of nibbles (each 64 values
// share 32 bytes: low nibbles first, then high).
__device__ __forceinline__ float q4_k_value(const u8 *block, int j) {
    float d = half_bits_to_f32(read_u16(block));
    float dmin = half_bits_to_f32(read_u16(block + 2));
    const u8 *scales = block + 4;
    const u8 *qs = block + 16;
    int chunk = j >> 6, within = j & 63, high = within >= 32, l = within & 31;
    int sub = chunk * 2 + high;
    int sc, m;
    if (sub < 4) {
        sc = scales[sub] & 63;
        m = scales[sub + 4] & 63;
    } else {
        sc = (scales[sub + 4] & 0xf) | ((scales[sub - 4] >> 6) << 4);
        m = (scales[sub + 4] >> 4) | ((scales[sub] >> 6) << 4);
    }
    u8 byte = qs[chunk * 32 + l];
    int q = high ? (byte >> 4) : (byte & 0xf);
    return d * (float)sc * (float)q - dmin * (float)m;
}

// Value j (0..255) of a Q6_K super-block: 128 bytes of low nibbles, 64 bytes of
// 2-bit highs, 16 signed scales (one per 16 values), f16 d; value = d * scale *
// (q - 32). Each half of 128 values uses 64 low bytes and 32 high bytes.
__device__ __forceinline__ float q6_k_value(const u8 *block, int j) {
    const u8 *ql = block;
    const u8 *qh = block + 128;
    const i8 *scales = (const i8 *)(block + 192);
    float d = half_bits_to_f32(read_u16(block + 208));
    int half = j >> 7, r = j & 127, quarter = r >> 5, l = r & 31;
    u8 low_byte = ql[half * 64 + l + 32 * (quarter & 1)];
    int low = quarter >= 2 ? (low_byte >> 4) : (low_byte & 0xf);
    int high = (qh[half * 32 + l] >> (2 * quarter)) & 3;
    int scale = scales[half * 8 + (l >> 4) + 2 * quarter];
    return d * (float)scale * (float)((low | (high << 4)) - 32);
}

// aux_value(blocks, i): element i of a row of AUX values (any float or
// quantized type), as f32. Quantized rows start on a block boundary.
#if AUX == DT_F32 || AUX == DT_F16 || AUX == DT_BF16
__device__ __forceinline__ float aux_value(const u8 *row, u64 i) {
    return to_f32(((const aux_t *)row)[i]);
}
#elif AUX == DT_Q8_0
__device__ __forceinline__ float aux_value(const u8 *row, u64 i) {
    return q8_0_value(row + (i >> 5) * 34, (int)(i & 31));
}
#elif AUX == DT_Q5_0
__device__ __forceinline__ float aux_value(const u8 *row, u64 i) {
    return q5_0_value(row + (i >> 5) * 22, (int)(i & 31));
}
#elif AUX == DT_Q4_K
__device__ __forceinline__ float aux_value(const u8 *row, u64 i) {
    return q4_k_value(row + (i >> 8) * 144, (int)(i & 255));
}
#elif AUX == DT_Q6_K
__device__ __forceinline__ float aux_value(const u8 *row, u64 i) {
    return q6_k_value(row + (i >> 8) * 210, (int)(i & 255));
}
#endif

// Sum of `v` over a block of `blockDim.x` threads (a multiple of 32, at most
// 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) total += partial[w];
    return total;
}
