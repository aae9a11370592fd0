// Package defenses builds defended models — ensembles with an aggregation
// head (mean of logits or softmax, DVERGE's log-mean-softmax, CrossMax),
// DVERGE-trained ensembles, CrossMax over intermediate-layer heads — and
// writes each as an ordinary ONNX file: the aggregation is ONNX ops inside
// the graph, so a defended model is a victim like any other in attacks,
// scenarios and gates, and deploys in any ONNX runtime.
//
// It also makes the models whose robustness teams ask about after the
// fact: merges of fine-tunes of one base (Task Arithmetic, TIES-Merging as
// FusionBench computes it, DAM as its released code runs it, and Concrete
// AdaMerging, which DAM extends), pruned models (magnitude pruning, and
// channel pruning that rewrites the graph so the file shrinks), and
// backdoored ones (BadNets poisoning, and the backdoor ASR a trigger
// reaches). Each is the base's graph, or a smaller one, with new weights:
// again an ordinary ONNX file.
package defenses
