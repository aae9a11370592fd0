package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/internal/progress"
)

func newMergeCmd() *cobra.Command {
	var (
		j          defenses.MergeJob
		lambda     float64
		grain      string
		carryOff   bool
		asJSON     bool
		dam        = defenses.DefaultDAMConfig()
		damLRInner float64
	)
	cmd := &cobra.Command{
		Use:   "merge --method ta|ties|dam --base BASE.onnx --model FT1.onnx --model FT2.onnx … -o MERGED.onnx",
		Short: "Merge fine-tunes of one base model: Task Arithmetic, TIES or DAM",
		Long:  mergeHelp(),
		Example: `  advmatrix merge --method ta --base zoo:merge/base --model zoo:merge/ft_mnist_badnets \
      --model zoo:merge/ft_syndigits --model zoo:merge/ft_fashion -o ta.onnx
  advmatrix merge --method ties --ties-keep 0.2 --ties-merge mean --lambda 1 --base base.onnx --model a.onnx --model b.onnx -o ties.onnx
  advmatrix merge --method dam --base base.onnx --model a.onnx --model b.onnx --data mnist:test --data fashion-mnist:test -o dam.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("lambda") {
				j.Lambda = &lambda
			}
			if grain != "layer" && grain != "task" {
				return fmt.Errorf("--dam-granularity %q: want layer or task", grain)
			}
			dam.LayerWise, dam.CarryLambdaGrad, dam.InnerLR = grain == "layer", !carryOff, damLRInner
			dam.Progress = damProgress(cmd.ErrOrStderr())
			j.DAM = dam
			r, err := j.Run(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			return defenses.WriteMergeText(cmd.OutOrStdout(), r)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&j.Method, "method", "", "ta (Task Arithmetic), ties (TIES-Merging) or dam (DAM, the released code)")
	fl.StringVar(&j.Base, "base", "", "the model the fine-tunes started from: an .onnx file or zoo:NAME")
	fl.StringArrayVar(&j.Models, "model", nil, "a fine-tune of --base (repeat)")
	fl.Float64Var(&lambda, "lambda", 0, "λ; DAM: its initial value (default 0.3 for ta and dam, 0.5 for ties)")
	fl.Float64Var(&j.TIESKeep, "ties-keep", 0.2, "TIES: fraction of each task vector kept by magnitude")
	fl.StringVar(&j.TIESMerge, "ties-merge", defenses.TIESSum, "TIES: sum (FusionBench's default) or mean (the paper's)")
	fl.StringArrayVar(&j.DataSpecs, "data", nil, "DAM: unlabeled adaptation data of each fine-tune's task, in --model order (repeat)")
	fl.IntVar(&j.Limit, "limit", 0, "DAM: use the first N images of each --data (0: all)")
	fl.IntVar(&dam.Steps, "dam-steps", dam.Steps, "DAM: mask-learning steps")
	fl.IntVar(&dam.AdaMergingSteps, "dam-adamerging-steps", dam.AdaMergingSteps, "DAM: AdaMerging steps after the mask")
	fl.IntVar(&dam.Batch, "dam-batch", dam.Batch, "DAM: images per task and step")
	fl.StringVar(&grain, "dam-granularity", "layer", "DAM: λ per task and weight tensor (layer) or per task (task)")
	fl.Float64Var(&dam.AdvWeight, "dam-adv-weight", dam.AdvWeight, "DAM: weight of the perturbed images' entropy (0: Concrete AdaMerging's mask loss)")
	fl.Float64Var(&dam.LR, "dam-lr", dam.LR, "DAM: the mask logits' Adam learning rate")
	fl.Float64Var(&damLRInner, "dam-inner-lr", dam.InnerLR, "DAM: λ's Adam learning rate during mask learning (base_lr)")
	fl.Float64Var(&dam.AdaMergingLR, "dam-adamerging-lr", dam.AdaMergingLR, "DAM: λ's Adam learning rate in the AdaMerging stage")
	fl.Float64Var(&dam.AdvLR, "dam-adv-lr", dam.AdvLR, "DAM: the perturbation's Adam learning rate")
	fl.Float64Var(&dam.Temperature, "dam-temperature", dam.Temperature, "DAM: the Concrete mask's temperature")
	fl.BoolVar(&carryOff, "dam-no-grad-carry", false, "DAM: clear λ's gradient before each step (the released code carries the mask step's over)")
	fl.Uint64Var(&dam.Seed, "seed", dam.Seed, "DAM: seed of the mask samples and the batches")
	fl.StringVarP(&j.Out, "output", "o", "", "the merged model's ONNX file")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// damProgress shows DAM's two stages as progress bars.
func damProgress(w io.Writer) func(stage string, step, total int, loss float64) {
	var bar *progress.Bar
	cur := ""
	return func(stage string, step, total int, loss float64) {
		if stage != cur {
			if bar != nil {
				bar.Done()
			}
			bar, cur = progress.New("dam "+stage, total), stage
		}
		bar.Add(1)
		if step == total {
			bar.Done()
			fmt.Fprintf(w, "dam %s: %d steps, entropy %.4f\n", stage, total, loss)
		}
	}
}

func mergeHelp() string {
	return `merge writes one model merged from fine-tunes of a base model. Every fine-tune
must share the base's graph — nodes, tensor names, initializer names, types and
shapes — and differ in weight values only; the task vectors τ_t = θ_t − θ₀ are
taken over every float weight that differs. The merged model is the base's
graph with new weights: an ordinary ONNX file for eval, attack and run.

  ta     Task Arithmetic (Ilharco et al. 2023): θ = θ₀ + λ·Σ_t τ_t, λ 0.3 by
         default (DAM's configuration; FusionBench's default is 0.5).
  ties   TIES-Merging (Yadav et al. 2023) as FusionBench computes it, over all
         weights flattened: trim each τ_t to the entries whose magnitude is at
         least its k-th smallest, k = d − ⌊d·K⌋ (K = --ties-keep, 0.2; ties at
         the threshold are all kept); elect the sign of Σ_t τ̂_t per entry,
         zeros taking the sign of the elected signs' sum; merge the entries
         of the elected sign by sum (default) or mean; θ = θ₀ + λ·τ_m, λ 0.5.
  dam    DAM, Defense-Aware Merging (Yang et al., ICLR 2025), as its released
         code runs it — not the paper's dual-mask description, which the code
         does not contain: one Concrete mask over the task vectors, a universal
         perturbation per task searched adversarially, and entropy-driven
         AdaMerging on unlabeled images of each task (--data, in --model
         order; the reference adapts on the test split, without labels).
         Defaults are the released layer-wise configuration: 1000 mask steps,
         1000 AdaMerging steps, batch 16, λ₀ 0.3, Adam lrs 1e-3 (mask),
         1 (λ inside mask learning), 1e-3 (AdaMerging), 1e-4 (perturbation),
         adversarial weight 0.1, temperature 0.5. The released code does not
         clear λ's gradient between the mask step and the next λ step; that
         is kept (--dam-no-grad-carry turns it off). With --dam-adv-weight 0
         and --dam-no-grad-carry the perturbation no longer touches the
         merge: DAM is then Concrete AdaMerging, but for the batches the
         perturbation's step still draws. The final mask is a random
         sample, as released: --seed fixes it with the batches.

BatchNorm running statistics are merged like weights by ta and ties (as
FusionBench's state-dict arithmetic does) and kept at the base's by dam; a
merge that leaves a variance at or below zero is refused.

The model is written atomically; on any error nothing is written (exit 2).`
}
