// Package defenses builds defended models — ensembles with an aggregation
// head (mean of logits or softmax, DVERGE's log-mean-softmax, CrossMax),
// DVERGE-trained ensembles, CrossMax over intermediate-layer heads — and
// writes each as an ordinary ONNX file: the aggregation is ONNX ops inside
// the graph, so a defended model is a victim like any other in attacks,
// scenarios and gates, and deploys in any ONNX runtime.
package defenses
