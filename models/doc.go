// Package models turns ONNX image classifiers into differentiable functions.
//
// A model is parsed by a strict importer (every op, attribute and opset
// difference checked; an unsupported op is an error naming it, its node and
// the opset) and compiled, once per batch size, into a program: a list of
// kernels with hand-written vector–Jacobian products over buffers allocated
// up front. Shape arithmetic that exporters emit around reshapes (Shape,
// Gather, Unsqueeze, Concat, ...) is evaluated at compile time, so the
// program does only the numeric work. Running a program allocates nothing.
// Buffers are planned by liveness: tensors and gradients whose lifetimes do
// not overlap share memory, the backward pass keeps only the activations it
// reads, kernels share one scratch arena, and a program whose plan exceeds
// WithMaxActivationBytes is refused before anything is allocated.
//
// The engine computes in float32 for real work and in float64 for gradient
// checks, from the same generic kernels. Non-differentiable points follow
// PyTorch, which users compare against: ReLU'(0) = 0, MaxPool sends the
// gradient to the first maximum of its window in row-major order, and Clip
// passes it on its bounds as torch.clamp does.
//
// Model implements Classifier — logits and gradients through them — and
// also exposes named intermediate activations, VJPs seeded at any named
// tensor, the weights with get/set, gradients with respect to the weights,
// and export back to ONNX.
//
// Why not gorgonia: the importer builds on project-owned kernels rather than
// gorgonia's graph. Every op needed hand-written gradients anyway (gorgonia
// lacks grouped convolution, inference BatchNorm, asymmetric padding and a
// differentiable global pooling, and its TapeMachine reuses registers
// unsafely, gorgonia#576), and owning the executor is what makes compile
// once / run without allocation / bitwise-reproducible parallelism possible.
package models
