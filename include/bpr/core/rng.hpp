#pragma once
// bpr::rng: a small, fast generator whose streams are identical on every platform.

#include <cmath>
#include <cstdint>
#include <numbers>

namespace bpr {

// xoshiro256** seeded through splitmix64. std::*_distribution differ between
// standard libraries, so bpr draws its own uniforms and normals: the same seed gives
// the same weights, shuffles and augmentations with g++ and clang alike.
class rng {
  public:
    using result_type = std::uint64_t;

    explicit rng(std::uint64_t seed = 0) { reseed(seed); }

    void reseed(std::uint64_t seed) {
        for (auto& word : state_)
            word = splitmix64(seed);
        has_spare_normal_ = false;
    }

    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }

    result_type operator()() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
    double uniform(double low, double high) { return low + (high - low) * uniform(); }

    // Uniform integer in [0, bound), bound > 0 (Lemire's multiply-shift, unbiased).
    std::uint64_t below(std::uint64_t bound) {
        std::uint64_t x = (*this)();
        __uint128_t m = static_cast<__uint128_t>(x) * bound;
        auto low = static_cast<std::uint64_t>(m);
        if (low < bound) {
            const std::uint64_t threshold = (0 - bound) % bound;
            while (low < threshold) {
                x = (*this)();
                m = static_cast<__uint128_t>(x) * bound;
                low = static_cast<std::uint64_t>(m);
            }
        }
        return static_cast<std::uint64_t>(m >> 64);
    }

    // Standard normal by the Box-Muller transform.
    double normal() {
        if (has_spare_normal_) {
            has_spare_normal_ = false;
            return spare_normal_;
        }
        double u1 = uniform();
        while (u1 <= 0.0)
            u1 = uniform();
        const double u2 = uniform();
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = 2.0 * std::numbers::pi * u2;
        spare_normal_ = radius * std::sin(angle);
        has_spare_normal_ = true;
        return radius * std::cos(angle);
    }
    double normal(double mean, double stddev) { return mean + stddev * normal(); }

    // A generator for an independent sub-stream (e.g. one per worker or per epoch).
    rng split() { return rng((*this)()); }

    // The full state, for checkpoints that resume bit-identically.
    struct snapshot {
        std::uint64_t words[4];
        double spare_normal;
        bool has_spare_normal;
    };
    snapshot save() const {
        return {{state_[0], state_[1], state_[2], state_[3]}, spare_normal_, has_spare_normal_};
    }
    void restore(const snapshot& s) {
        for (int i = 0; i < 4; ++i)
            state_[i] = s.words[i];
        spare_normal_ = s.spare_normal;
        has_spare_normal_ = s.has_spare_normal;
    }

  private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::uint64_t state_[4];
    double spare_normal_ = 0.0;
    bool has_spare_normal_ = false;
};

// Fisher-Yates shuffle driven by bpr::rng (std::shuffle's output is library-specific).
template <typename RandomIt>
void shuffle(RandomIt first, RandomIt last, rng& generator) {
    const auto count = last - first;
    for (auto i = count - 1; i > 0; --i) {
        const auto j = static_cast<decltype(i)>(generator.below(static_cast<std::uint64_t>(i) + 1));
        using std::swap;
        swap(first[i], first[j]);
    }
}

}  // namespace bpr
