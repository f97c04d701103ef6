#pragma once
// bpr::concat: runs several branches on one input and stacks their outputs along the
// channel axis (DenseNet's dense layer is concat<bottleneck, identity>).

#include <array>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/residual.hpp"

namespace bpr {

// What it represents: out = cat([b0(x), b1(x), ...], dim=1), as torch.cat over the
// channels, in branch order (kuangliu's DenseNet puts the new features first:
// concat<bottleneck, identity>).
// Requires: at least one branch; every branch maps the input to [N, C_i, H, W] (or
// [N, C_i]) with the same N (and H, W); all branches share one value_type.
// Guarantees: output [N, sum C_i, H, W]; a branch that is a named<"x", L> reports its
// parameters under "<prefix>.x", any other branch under the prefix directly (so a
// DenseNet bottleneck's "conv1" is "dense1.0.conv1"); identity branches cost no
// intermediate copy.
template <layer... Branches>
class concat {
    static_assert(sizeof...(Branches) > 0, "bpr::concat needs at least one branch");
    using first_branch = std::tuple_element_t<0, std::tuple<Branches...>>;

  public:
    using value_type = typename first_branch::value_type;
    static_assert((std::is_same_v<typename Branches::value_type, value_type> && ...),
                  "bpr::concat: all branches must have the same value_type");
    static constexpr std::size_t size = sizeof...(Branches);

    concat() = default;
    explicit concat(Branches... branches) : branches_(std::move(branches)...) {}

    template <std::size_t I>
    auto& get() {
        return std::get<I>(branches_);
    }

    shape output_shape(const shape& in) const {
        shape result;
        for_each_index([&]<std::size_t I>() {
            const shape s = in_branch(I, [&] { return std::get<I>(branches_).output_shape(in); });
            BPR_REQUIRE(s.rank() == 2 || s.rank() == 4, "concat: branch ", I, " gives rank ",
                        s.rank(), " (shape ", s.str(), "), expected 2 or 4");
            if constexpr (I == 0) {
                result = s;
            } else {
                shape other = s;
                other[1] = result[1];
                BPR_REQUIRE(other == result, "concat: branch ", I, " gives shape ", s.str(),
                            ", which does not match branch 0's ", result.str(),
                            " outside the channel axis");
                result[1] += s[1];
            }
        });
        return result;
    }

    void forward(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        const shape total = output_shape(in.shape());
        for_each_index([&]<std::size_t I>() {
            using B = std::tuple_element_t<I, std::tuple<Branches...>>;
            if constexpr (!detail::is_identity_v<B>)
                in_branch(I, [&] { std::get<I>(branches_).forward(in, outputs_[I], m); });
        });
        out.resize(total);
        const index_t batch = total[0];
        const index_t plane = total.rank() == 4 ? total[2] * total[3] : 1;
        index_t channel = 0;
        for_each_index([&]<std::size_t I>() {
            const tensor<value_type>& y = branch_output<I>(in);
            const index_t c = y.extent(1);
            for (index_t n = 0; n < batch; ++n)
                std::memcpy(out.data() + (n * total[1] + channel) * plane, y.data() + n * c * plane,
                            sizeof(value_type) * c * plane);
            channel += c;
        });
    }

    void backward(const tensor<value_type>& in, const tensor<value_type>&,
                  const tensor<value_type>& grad_out, tensor<value_type>& grad_in) {
        const shape total = output_shape(in.shape());
        require_shape(grad_out, total, "concat::backward", "grad_out");
        const index_t batch = total[0];
        const index_t plane = total.rank() == 4 ? total[2] * total[3] : 1;
        grad_in.resize(in.shape());
        grad_in.zero();
        index_t channel = 0;
        for_each_index([&]<std::size_t I>() {
            using B = std::tuple_element_t<I, std::tuple<Branches...>>;
            const tensor<value_type>& y = branch_output<I>(in);
            const index_t c = y.extent(1);
            // This branch's slice of grad_out, then its input gradient added to grad_in.
            tensor<value_type>& dy = grad_outputs_[I];
            dy.resize(y.shape());
            for (index_t n = 0; n < batch; ++n)
                std::memcpy(dy.data() + n * c * plane,
                            grad_out.data() + (n * total[1] + channel) * plane,
                            sizeof(value_type) * c * plane);
            channel += c;
            if constexpr (detail::is_identity_v<B>) {
                grad_in.as_array() += dy.as_array();
            } else {
                in_branch(I, [&] { std::get<I>(branches_).backward(in, y, dy, grad_branch_); });
                grad_in.as_array() += grad_branch_.as_array();
            }
        });
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        for_each_index([&]<std::size_t I>() {
            using B = std::tuple_element_t<I, std::tuple<Branches...>>;
            visit(std::get<I>(branches_), branch_prefix<B>(prefix));
        });
    }

  private:
    template <typename F>
    static void for_each_index(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f.template operator()<I>(), ...);
        }
        (std::make_index_sequence<size>{});
    }

    template <typename Body>
    static decltype(auto) in_branch(std::size_t i, Body&& body) {
        try {
            return body();
        } catch (const error& e) {
            throw error(detail::concat("concat branch ", i, ": ", e.what()));
        }
    }

    template <typename B>
    static std::string branch_prefix(std::string_view prefix) {
        if constexpr (requires { B::layer_name; })
            return detail::join_name(prefix, B::layer_name);
        else
            return std::string(prefix);
    }

    template <std::size_t I>
    const tensor<value_type>& branch_output(const tensor<value_type>& in) const {
        using B = std::tuple_element_t<I, std::tuple<Branches...>>;
        if constexpr (detail::is_identity_v<B>)
            return in;
        else
            return outputs_[I];
    }

    std::tuple<Branches...> branches_;
    // Branch outputs of the last forward (for backward) and per-branch scratch.
    std::array<tensor<value_type>, size> outputs_;
    std::array<tensor<value_type>, size> grad_outputs_;
    tensor<value_type> grad_branch_;
};

}  // namespace bpr
