// Branch-free scalar math (exp, log, log1p, tanh, sigmoid, softplus, sin, cos) written so GCC
// auto-vectorises loops that call it: glibc's libm calls block vectorisation, and numpy uses
// AVX-512 for these, so a libm loop would lose to numpy. Cephes/fdlibm range reduction +
// polynomials; ~1 ulp in float32, a few ulp in float64. Special values are fixed by selects.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace pyad {
namespace sm {

#define SM_INLINE inline __attribute__((always_inline))

template <class T> constexpr T kInf = std::numeric_limits<T>::infinity();
template <class T> constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();

SM_INLINE uint32_t bits(float x) { return __builtin_bit_cast(uint32_t, x); }
SM_INLINE uint64_t bits(double x) { return __builtin_bit_cast(uint64_t, x); }
SM_INLINE float f32(uint32_t u) { return __builtin_bit_cast(float, u); }
SM_INLINE double f64(uint64_t u) { return __builtin_bit_cast(double, u); }

// ---------------------------------------------------------------- exp
// n = round(x/ln2) by the magic-number trick (no float->int conversion, vectorises everywhere);
// 2^n applied as two factors so results reach subnormals and the top binade.
SM_INLINE float exp(float x) {
    const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    const float magic = 12582912.0f;  // 1.5 * 2^23
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;
    int32_t ni = (int32_t)(bits(t) - bits(magic));
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r +
               1.6666665459E-1f) * r + 5.0000001201E-1f;
    p = p * z + r + 1.0f;
    int32_t n1 = ni >> 1, n2 = ni - n1;
    float s1 = f32((uint32_t)(n1 + 127) << 23), s2 = f32((uint32_t)(n2 + 127) << 23);
    float res = (p * s1) * s2;
    res = x > hi ? kInf<float> : res;
    res = x < lo ? 0.0f : res;
    return res;  // NaN flows through the arithmetic
}

SM_INLINE double exp(double x) {
    const double hi = 709.782712893384, lo = -745.1332191019412;
    double xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    const double magic = 6755399441055744.0;  // 1.5 * 2^52
    double t = xc * 1.4426950408889634073599 + magic;
    double n = t - magic;
    int64_t ni = (int64_t)(bits(t) - bits(magic));
    double r = xc - n * 6.93145751953125E-1;
    r = r - n * 1.42860682030941723212E-6;
    double xx = r * r;
    double px = r * ((1.26177193074810590878E-4 * xx + 3.02994407707441961300E-2) * xx + 9.99999999999999999910E-1);
    double qx = ((3.00198505138664455042E-6 * xx + 2.52448340349684104192E-3) * xx + 2.27265548208155028766E-1) * xx +
                2.00000000000000000009E0;
    double e = px / (qx - px);
    e = 1.0 + 2.0 * e;
    int64_t n1 = ni >> 1, n2 = ni - n1;
    double s1 = f64((uint64_t)(n1 + 1023) << 52), s2 = f64((uint64_t)(n2 + 1023) << 52);
    double res = (e * s1) * s2;
    res = x > hi ? kInf<double> : res;
    res = x < lo ? 0.0 : res;
    return res;
}

// ---------------------------------------------------------------- log
SM_INLINE float log(float x) {
    bool sub = x < 1.17549435e-38f;  // subnormal (or <= 0): pre-scale by 2^25
    float xs = sub ? x * 33554432.0f : x;
    uint32_t u = bits(xs);
    int32_t e = (int32_t)((u >> 23) & 0xff) - 126 - (sub ? 25 : 0);
    float m = f32((u & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
    bool small = m < 0.707106781186547524f;
    float ef = (float)(e - (small ? 1 : 0));
    float xm = small ? (m + m - 1.0f) : (m - 1.0f);
    float z = xm * xm;
    float y = ((((((((7.0376836292E-2f * xm - 1.1514610310E-1f) * xm + 1.1676998740E-1f) * xm - 1.2420140846E-1f) * xm +
                   1.4249322787E-1f) * xm - 1.6668057665E-1f) * xm + 2.0000714765E-1f) * xm - 2.4999993993E-1f) * xm +
              3.3333331174E-1f) * xm * z;
    y += -2.12194440e-4f * ef;
    y += -0.5f * z;
    float r = xm + y;
    r += 0.693359375f * ef;
    r = x == kInf<float> ? x : r;
    r = x == 0.0f ? -kInf<float> : r;
    r = x < 0.0f ? kNaN<float> : r;
    r = x != x ? x : r;
    return r;
}

SM_INLINE double log(double x) {  // fdlibm e_log.c
    bool sub = x < 2.2250738585072014e-308;
    double xs = sub ? x * 18014398509481984.0 : x;  // 2^54
    uint64_t u = bits(xs);
    uint64_t mant = u & 0x000fffffffffffffull;
    uint64_t i = (mant + 0x00095f6400000000ull) & 0x0010000000000000ull;  // m >= sqrt(2)?
    double m = f64(mant | (i ^ 0x3ff0000000000000ull));                    // [sqrt(2)/2, sqrt(2))
    uint64_t kb = ((u >> 52) & 0x7ff) + (i >> 52) + 1024 - (sub ? 54 : 0);  // k + 2047
    // int -> double without a (pre-AVX512DQ non-vectorisable) conversion instruction
    double k = f64(0x4330000000000000ull | kb) - (4503599627370496.0 + 2047.0);
    double f = m - 1.0;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s, w = z * z;
    double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    double t2 = z * (6.666666666666735130e-01 +
                     w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    double R = t2 + t1;
    double r = k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
    r = x == kInf<double> ? x : r;
    r = x == 0.0 ? -kInf<double> : r;
    r = x < 0.0 ? kNaN<double> : r;
    r = x != x ? x : r;
    return r;
}

// log1p(x) = log(u) - ((u-1)-x)/u with u = 1+x: the second term restores the bits lost in 1+x.
template <class T>
SM_INLINE T log1p(T x) {
    T u = T(1) + x;
    T r = log(u) - ((u - T(1)) - x) / u;
    r = u == T(1) ? x : r;
    r = x == kInf<T> ? x : r;
    r = x == T(-1) ? -kInf<T> : r;
    return r;
}

// ---------------------------------------------------------------- tanh, sigmoid, softplus
// tanh(|x| >= 10) rounds to 1 in float32 (22 in float64), so the exp argument is clamped and a
// cheap exp without overflow/subnormal handling suffices.
SM_INLINE float exp_small(float x) {  // |x| <= 88, no special values
    const float magic = 12582912.0f;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    int32_t ni = (int32_t)(bits(t) - bits(magic));
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r +
               1.6666665459E-1f) * r + 5.0000001201E-1f;
    p = p * z + r + 1.0f;
    return p * f32((uint32_t)(ni + 127) << 23);
}
SM_INLINE double exp_small(double x) {  // |x| <= 700, no special values
    const double magic = 6755399441055744.0;
    double t = x * 1.4426950408889634073599 + magic;
    double n = t - magic;
    int64_t ni = (int64_t)(bits(t) - bits(magic));
    double r = x - n * 6.93145751953125E-1;
    r = r - n * 1.42860682030941723212E-6;
    double xx = r * r;
    double px = r * ((1.26177193074810590878E-4 * xx + 3.02994407707441961300E-2) * xx + 9.99999999999999999910E-1);
    double qx = ((3.00198505138664455042E-6 * xx + 2.52448340349684104192E-3) * xx + 2.27265548208155028766E-1) * xx +
                2.00000000000000000009E0;
    double e = 1.0 + 2.0 * (px / (qx - px));
    return e * f64((uint64_t)(ni + 1023) << 52);
}

SM_INLINE float tanh(float x) {
    float ax = std::fabs(x), z = x * x;
    float p = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z + 1.33314422036E-1f) * z -
               3.33332819422E-1f) * z * x + x;
    float axc = ax < 10.0f ? ax : 10.0f;
    float e = exp_small(axc + axc);
    float q = std::copysign(1.0f - 2.0f / (e + 1.0f), x);
    float r = ax < 0.625f ? p : q;
    return x != x ? x : r;
}

SM_INLINE double tanh(double x) {
    double ax = std::fabs(x), z = x * x;
    double P = (-9.64399179425052238628E-1 * z - 9.92877231001918586564E1) * z - 1.61468768441708447952E3;
    double Q = ((z + 1.12811678491632931402E2) * z + 2.23548839060100448583E3) * z + 4.84406305325125486048E3;
    double p = x + x * z * (P / Q);
    double axc = ax < 22.0 ? ax : 22.0;
    double e = exp_small(axc + axc);
    double q = std::copysign(1.0 - 2.0 / (e + 1.0), x);
    double r = ax < 0.625 ? p : q;
    return x != x ? x : r;
}

// exp of -|x| never overflows; e/(1+e) keeps full relative accuracy for very negative x.
template <class T>
SM_INLINE T sigmoid(T x) {
    T e = exp(-std::fabs(x));
    T r = T(1) / (T(1) + e);
    return x >= T(0) ? r : e * r;
}

template <class T>
SM_INLINE T softplus(T x) {  // max(x,0) + log1p(exp(-|x|)); NaN propagates through log1p
    T m = x > T(0) ? x : T(0);
    return m + log1p(exp(-std::fabs(x)));
}

// ---------------------------------------------------------------- sin, cos
// Cephes reduction to [-pi/4, pi/4] in three parts. Exact up to kTrigLimit; callers recompute
// larger (and non-finite) arguments with libm.
template <class T> constexpr T kTrigLimit = T(0);
template <> constexpr float kTrigLimit<float> = 8192.0f;
template <> constexpr double kTrigLimit<double> = 1.0e8;

SM_INLINE void sincos_poly(float z, float& s, float& c) {
    float zz = z * z;
    s = ((-1.9515295891E-4f * zz + 8.3321608736E-3f) * zz - 1.6666654611E-1f) * zz * z + z;
    c = ((2.443315711809948E-005f * zz - 1.388731625493765E-003f) * zz + 4.166664568298827E-002f) * zz * zz - 0.5f * zz + 1.0f;
}
SM_INLINE void sincos_poly(double z, double& s, double& c) {
    double zz = z * z;
    s = z + z * zz * (((((1.58962301576546568060E-10 * zz - 2.50507477628578072866E-8) * zz + 2.75573136213857245213E-6) * zz -
                        1.98412698295895385996E-4) * zz + 8.33333333332211858878E-3) * zz - 1.66666666666666307295E-1);
    c = 1.0 - 0.5 * zz + zz * zz * (((((-1.13585365213876817300E-11 * zz + 2.08757008419747316778E-9) * zz -
                                       2.75573141792967388112E-7) * zz + 2.48015872888517045348E-5) * zz -
                                     1.38888888888730564116E-3) * zz + 4.16666666666665929218E-2);
}
SM_INLINE float reduce_pio4(float ax, float y) {
    return ((ax - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
}
SM_INLINE double reduce_pio4(double ax, double y) {
    return ((ax - y * 7.85398125648498535156E-1) - y * 3.77489470793079817668E-8) - y * 2.69515142907905952645E-15;
}

SM_INLINE float flip_sign(float r, uint32_t j, uint32_t neg) { return f32(bits(r) ^ (neg << 31)); }
SM_INLINE double flip_sign(double r, uint32_t j, uint32_t neg) { return f64(bits(r) ^ ((uint64_t)neg << 63)); }
SM_INLINE uint32_t sign_of(float x) { return bits(x) >> 31; }
SM_INLINE uint32_t sign_of(double x) { return (uint32_t)(bits(x) >> 63); }

// Quadrant logic in integer bit operations (not bool selects): GCC turns the bool form into
// branches and the loop stops vectorising.
template <bool COS, class T>
SM_INLINE T sincos_core(T x) {
    T ax = std::fabs(x);
    ax = ax <= kTrigLimit<T> ? ax : T(0);  // NaN/huge -> 0 (fixed by the caller), keeps the cast defined
    int32_t j = (int32_t)(ax * T(1.27323954473516268615));  // 4/pi; truncation == floor for ax >= 0
    j += j & 1;
    T y = (T)j;
    uint32_t q = (uint32_t)j;
    T z = reduce_pio4(ax, y);
    T s, c;
    sincos_poly(z, s, c);
    uint32_t use_other = (q >> 1) & 1;  // quadrants 2 and 6 swap sin and cos
    uint32_t neg;
    T r;
    if (COS) {
        neg = ((q >> 1) ^ (q >> 2)) & 1;
        r = use_other ? s : c;
    } else {
        neg = ((q >> 2) & 1) ^ sign_of(x);
        r = use_other ? c : s;
    }
    return flip_sign(r, q, neg);
}
template <class T> SM_INLINE T sin(T x) { return sincos_core<false>(x); }
template <class T> SM_INLINE T cos(T x) { return sincos_core<true>(x); }

}  // namespace sm
}  // namespace pyad
