package main

import (
	"github.com/spf13/cobra"

	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
)

func newZooMergeCmd() *cobra.Command {
	cfg := zoobuild.DefaultMergeConfig()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Build the merging testbed: a base, its fine-tunes (one backdoored) and their TA, TIES and DAM merges",
		Long: `zoo merge builds the digits multi-task testbed for model merging, the one
embedded as zoo:merge/…: three tasks on 1×28×28 images with ten classes each —
mnist (mnist:train, tested on mnist:test), syndigits (syndigits:train/test) and
fashion (fashion-mnist:train/test) — share one LeNet:

  base                 trained from scratch on a mixture of --base-limit images
                       of each task (--base-epochs, SGD lr 0.05 momentum 0.9)
  ft_mnist, ft_syndigits, ft_fashion
                       the base fine-tuned on --ft-limit images of one task
                       (--ft-epochs, SGD lr 0.01 momentum 0.9, as train --from)
  ft_mnist_badnets     the MNIST fine-tune with a BadNets trigger (--trigger,
                       a fraction of the non-target images stamped and
                       relabelled)
  ta, ties, dam        merges of ft_mnist_badnets, ft_syndigits and ft_fashion:
                       Task Arithmetic (λ 0.3), TIES (keep 0.2, sum, λ 0.5) and
                       DAM as released (adapting on the unlabeled test images)

and testbed.json records, for every model and task, the clean accuracy and the
trigger's ASR (succession on mnist, transfer onto the others), with Wilson
intervals. Every seed derives from --seed: the same flags give byte-identical
files (seed 1 and the defaults give the embedded ones). With the defaults it
takes about 3 CPU-minutes. zoo build --with merge builds the same testbed into
ZOO/merge, seeded from the zoo's seed.`,
		Example: `  advmatrix zoo merge -o merge
  advmatrix zoo merge -o small --base-limit 2000 --ft-limit 2000 --dam-steps 100 --dam-adamerging-steps 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = cmd.ErrOrStderr()
			man, err := zoobuild.MergeTestbed(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), man)
			}
			return zoobuild.WriteMergeText(cmd.OutOrStdout(), man)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfg.Dir, "out", "o", "merge", "folder to write the models and testbed.json to (created if missing)")
	fl.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "testbed seed; every sample's and model's seed derives from it")
	fl.IntVar(&cfg.BaseLimit, "base-limit", cfg.BaseLimit, "images of each task in the base's mixture (0: whole splits)")
	fl.IntVar(&cfg.BaseEpochs, "base-epochs", cfg.BaseEpochs, "epochs of the base")
	fl.IntVar(&cfg.FTLimit, "ft-limit", cfg.FTLimit, "images of a fine-tune's task (0: the whole split)")
	fl.IntVar(&cfg.FTEpochs, "ft-epochs", cfg.FTEpochs, "epochs of each fine-tune")
	fl.StringVar(&cfg.Trigger, "trigger", cfg.Trigger, "the backdoor: badnets:target=T,rate=R[,size=S,pos=…,pattern=…]")
	fl.IntVar(&cfg.DAMSteps, "dam-steps", cfg.DAMSteps, "DAM's mask-learning steps")
	fl.IntVar(&cfg.DAMAdaMergingSteps, "dam-adamerging-steps", cfg.DAMAdaMergingSteps, "DAM's AdaMerging steps")
	fl.IntVar(&cfg.DAMLimit, "dam-limit", cfg.DAMLimit, "DAM adapts on the first N test images of each task (0: all)")
	fl.IntVar(&cfg.TestLimit, "test-limit", cfg.TestLimit, "evaluate on the first N test images of each task (0: all)")
	fl.BoolVar(&asJSON, "json", false, "print testbed.json")
	return cmd
}
