// Branch-free scalar math (exp, log, log1p, tanh, sigmoid, softplus, sin, cos) that GCC vectorises.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

// Written so that GCC auto-vectorises the loops that call it: glibc's libm calls block
// vectorisation, and numpy uses AVX-512 for these, so a libm loop would lose to numpy.
// Cephes/fdlibm range reduction + polynomials; ~1 ulp in float32, a few ulp in float64.
// Special values are fixed by selects.
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
// x = n ln2 + r with n = round(x/ln2) by the magic-number trick (no float->int conversion,
// vectorises everywhere); ln2 in two parts keeps r exact. Returns t, whose low bits hold n.
SM_INLINE float exp_reduce(float x, float& r) {
    const float magic = 12582912.0f;  // 1.5 * 2^23
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    return t;
}
SM_INLINE double exp_reduce(double x, double& r) {
    const double magic = 6755399441055744.0;  // 1.5 * 2^52
    double t = x * 1.4426950408889634073599 + magic;
    double n = t - magic;
    r = x - n * 6.93145751953125E-1;
    r = r - n * 1.42860682030941723212E-6;
    return t;
}
// 2^n for -126 <= n <= 127 (-1022..1023): the magic constant's low bits are zero, so shifting t
// leaves n in the exponent field.
SM_INLINE float pow2n(float t) { return f32((bits(t) << 23) + 0x3f800000u); }
SM_INLINE double pow2n(double t) { return f64((bits(t) << 52) + 0x3ff0000000000000ull); }

// expm1(r) = r + r^2 P(r) for |r| <= ln2/2. float: Cephes expf polynomial. double: P of degree 10
// fitted at Chebyshev nodes (0.01 ulp approximation error); unlike the Cephes Pade form it needs no
// division, which dominated the cost.
SM_INLINE float expm1_reduced(float r) {
    float p = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r +
               1.6666665459E-1f) * r + 5.0000001201E-1f;
    return (r * r) * p + r;
}
SM_INLINE double expm1_reduced(double r) {
    double p = ((((((((((2.0914686968086876e-09 * r + 2.5105217004720745e-08) * r + 2.75572736431103e-07) * r +
                       2.7557255400206422e-06) * r + 2.4801587325547743e-05) * r + 1.9841269874820627e-04) * r +
                    1.3888888888883748e-03) * r + 8.333333333326136e-03) * r + 4.1666666666666667e-02) * r +
                 1.6666666666666667e-01) * r + 0.5);
    return (r * r) * p + r;
}

// exp for |x| <= kExpCoreLimit only (results normal, 2^n representable): no clamps or selects.
template <class T> constexpr T kExpCoreLimit = sizeof(T) == 4 ? T(87) : T(708);
template <class T>
SM_INLINE T exp_core(T x) {
    T r;
    T s = pow2n(exp_reduce(x, r));
    return s * expm1_reduced(r) + s;
}

// Full range: 2^n applied as two factors so results reach subnormals and the top binade.
template <class T>
SM_INLINE T exp(T x) {
    using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
    using U = std::make_unsigned_t<I>;
    constexpr int kMant = sizeof(T) == 4 ? 23 : 52, kBias = sizeof(T) == 4 ? 127 : 1023;
    const T hi = sizeof(T) == 4 ? T(88.72283935546875) : T(709.782712893384);
    const T lo = sizeof(T) == 4 ? T(-103.97208404541015625) : T(-745.1332191019412);
    T xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    T r;
    T t = exp_reduce(xc, r);
    I ni = (I)(bits(t) - bits(T(1.5) * T(I(1) << kMant)));  // t - magic, as an integer
    T e = expm1_reduced(r) + T(1);
    I n1 = ni >> 1, n2 = ni - n1;
    T s1 = __builtin_bit_cast(T, (U)(n1 + kBias) << kMant), s2 = __builtin_bit_cast(T, (U)(n2 + kBias) << kMant);
    T res = (e * s1) * s2;
    res = x > hi ? kInf<T> : res;
    res = x < lo ? T(0) : res;
    return res;  // NaN flows through the arithmetic
}

// ---------------------------------------------------------------- log
// x = 2^n * m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2) makes the exponent
// field round n for free (no compare and select on m). Cephes polynomial, ~1 ulp.
// log of a positive, normal, finite x, times 2^e0 (e0 < 0 undoes the pre-scaling of subnormals).
SM_INLINE float log_core(float x, int32_t e0 = 0) {
    uint32_t v = bits(x) - 0x3f3504f3u;
    float ef = (float)(((int32_t)v >> 23) + e0);
    float xm = f32((v & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
    float z = xm * xm;
    float y = ((((((((7.0376836292E-2f * xm - 1.1514610310E-1f) * xm + 1.1676998740E-1f) * xm - 1.2420140846E-1f) * xm +
                   1.4249322787E-1f) * xm - 1.6668057665E-1f) * xm + 2.0000714765E-1f) * xm - 2.4999993993E-1f) * xm +
              3.3333331174E-1f) * xm * z;
    y += -2.12194440e-4f * ef;
    y += -0.5f * z;
    float r = xm + y;
    return r + 0.693359375f * ef;
}

SM_INLINE float log(float x) {
    bool sub = bits(x) < 0x00800000u;  // +0 and positive subnormals: pre-scale by 2^23
    float r = log_core(sub ? x * 8388608.0f : x, sub ? -23 : 0);
    // +inf, NaN and every negative input (sign bit set) compare above the bits of +inf
    r = bits(x) >= 0x7f800000u ? (x > 0.0f ? x : kNaN<float>) : r;
    r = x == 0.0f ? -kInf<float> : r;
    return r;
}

// fdlibm e_log.c for a positive, normal, finite x, times 2^e0 (see the float version).
SM_INLINE double log_core(double x, int64_t e0 = 0) {
    uint64_t u = bits(x);
    uint64_t mant = u & 0x000fffffffffffffull;
    uint64_t i = (mant + 0x00095f6400000000ull) & 0x0010000000000000ull;  // m >= sqrt(2)?
    double m = f64(mant | (i ^ 0x3ff0000000000000ull));                    // [sqrt(2)/2, sqrt(2))
    uint64_t kb = ((u >> 52) & 0x7ff) + (i >> 52) + 1024 + (uint64_t)e0;   // k + 2047
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
    return k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
}

SM_INLINE double log(double x) {
    bool sub = x < 2.2250738585072014e-308;
    double r = log_core(sub ? x * 18014398509481984.0 : x, int64_t(sub ? -54 : 0));  // 2^54
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
// expm1(a) for 0 <= a <= kExpCoreLimit; NaN propagates. 2^n expm1(r) + (2^n - 1) has no
// cancellation because n >= 0, so it keeps the relative accuracy of expm1(r) near 0.
template <class T>
SM_INLINE T expm1_pos(T a) {
    T r;
    T s = pow2n(exp_reduce(a, r));
    return s * expm1_reduced(r) + (s - T(1));
}

// tanh|x| = E / (E + 2) with E = expm1(2|x|): one formula for all x (no small-|x| polynomial
// blended in) and a single division; max error 2.4 ulp in float32 (the rounding of E + 2 and of
// the quotient add to that of E), ~2 ulp in float64. tanh rounds to 1 beyond |x| = 9 in float32
// (19 in float64), so 2|x| is clamped at 20 (44); the clamp is written so NaN passes through.
template <class T>
SM_INLINE T tanh(T x) {
    const T cap = sizeof(T) == 4 ? T(20) : T(44);
    T a = std::fabs(x) * T(2);
    a = cap < a ? cap : a;
    T e = expm1_pos(a);
    return std::copysign(e / (e + T(2)), x);
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
