// Builds against bpr as an outside project would and runs one convolution.
#include <bpr/bpr.hpp>
#include <cstdio>

int main() {
    bpr::kernels::conv2d_geometry g;
    g.in_channels = 2, g.in_h = g.in_w = 4, g.out_channels = 3, g.kernel_h = g.kernel_w = 3;
    g.pad_h = g.pad_w = 1;
    bpr::tensor<float> input(g.input_shape(), 1.0f), weight(g.weight_shape(), 1.0f);
    bpr::tensor<float> output(g.output_shape());
    bpr::kernels::conv2d_workspace<float> workspace;
    bpr::kernels::conv2d_forward(g, input.data(), weight.data(), static_cast<const float*>(nullptr),
                                 output.data(), workspace);
    // The centre of a 3x3 all-ones kernel over 2 all-ones channels sums 18 inputs.
    if (output(0, 0, 1, 1) != 18.0f) {
        std::printf("unexpected output %f\n", static_cast<double>(output(0, 0, 1, 1)));
        return 1;
    }
    std::printf("bpr consumer ok\n");
    return 0;
}
