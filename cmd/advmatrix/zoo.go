package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/advmatrix/advmatrix/internal/progress"
	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
	"github.com/spf13/cobra"
)

func newZooCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zoo",
		Short: "Build the DUMB digits model zoo or the merging testbed, or list models",
		Long: `zoo build trains the DUMB digits zoo; zoo merge builds the merging testbed;
zoo list shows the models embedded in advmatrix (usable as zoo:NAME) and, with
--dir, a built zoo's manifest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newZooBuildCmd(), newZooListCmd(), newZooMergeCmd())
	return cmd
}

func newZooBuildCmd() *cobra.Command {
	var (
		dir                      string
		epochs, limit, testLimit int
		seed                     uint64
		archs, with              []string
		asJSON                   bool
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Train the DUMB digits zoo: 2 sources × 3 architectures × 4 balance levels",
		Long:  zooBuildHelp(),
		Example: `  advmatrix zoo build -o zoo
  advmatrix zoo build -o zoo-small --epochs 1 --limit 10000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := zoobuild.Config{Dir: dir, Seed: seed, Epochs: epochs, Limit: limit, TestLimit: testLimit, Archs: archs}
			var err error
			if cfg.Steps, err = zoobuild.LookupSteps(with); err != nil {
				return fmt.Errorf("--with: %w", err)
			}
			cfg.Log = cmd.ErrOrStderr()
			cfg.Progress, cfg.OnModel = modelProgress(cmd.ErrOrStderr())
			man, err := zoobuild.Zoo(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), man)
			}
			return zoobuild.WriteZooText(cmd.OutOrStdout(), dir, man, nil)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&dir, "out", "o", "zoo", "folder to write the models and zoo.json to (created if missing)")
	fl.IntVar(&epochs, "epochs", zoobuild.DefaultZooEpochs, "training epochs per model")
	fl.Uint64Var(&seed, "seed", 1, "zoo seed; every model's seeds derive from it")
	fl.IntVar(&limit, "limit", 0, "train on a seeded sample of N images of each source's training split (0: all)")
	fl.IntVar(&testLimit, "test-limit", 0, "evaluate on the first N images of each test split (0: all)")
	fl.StringSliceVar(&archs, "archs", zoobuild.DefaultArchs, "the three (or any) architectures")
	fl.StringSliceVar(&with, "with", []string{"csgld"}, "steps to run after the models (registered: "+stepList()+"; --with= for none)")
	fl.BoolVar(&asJSON, "json", false, "print the manifest as JSON")
	return cmd
}

func stepList() string {
	if n := zoobuild.StepNames(); len(n) > 0 {
		return strings.Join(n, ", ")
	}
	return "none yet"
}

func newZooListCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the embedded models and, with --dir, a built zoo",
		Long: `zoo list lists the models embedded in advmatrix (use them as --model zoo:NAME) and,
with --dir, the models of a zoo built by zoo build, checking each file against
the sha256 in its zoo.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := zoobuild.List(dir)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), l)
			}
			return zoobuild.WriteListText(cmd.OutOrStdout(), l)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "also list the zoo built in this folder")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// modelProgress returns a zoo build's callbacks: a progress bar per model
// and one line per model written on w.
func modelProgress(w io.Writer) (func(i, n int, name string, done, total int), func(i, n int, m *zoobuild.ModelEntry)) {
	var bar *progress.Bar
	cur, prev := 0, 0
	onProgress := func(i, n int, name string, done, total int) {
		if i != cur {
			bar, cur, prev = progress.New(fmt.Sprintf("[%d/%d] %s", i, n, name), total), i, 0
		}
		bar.Add(done - prev)
		prev = done
	}
	onModel := func(i, n int, m *zoobuild.ModelEntry) {
		if bar != nil {
			bar.Done()
		}
		zoobuild.WriteModelLine(w, i, n, m)
	}
	return onProgress, onModel
}

// zooBuildHelp is the long help of `advmatrix zoo build`.
func zooBuildHelp() string {
	return `zoo build trains the digits zoo of the DUMB attacker model (Alecci et al. 2023):
  sources        mnist (mnist:train, tested on mnist:test) and syndigits
                 (syndigits:train, tested on syndigits:test)
  architectures  ` + strings.Join(zoobuild.DefaultArchs, ", ") + ` (--archs): three families — fully
                 connected, conv + max-pool, depthwise-separable conv with BatchNorm —
                 and the fastest three of the five on a CPU
  balance levels ` + strings.Join(zoobuild.Levels, ", ") + `: level P/Q means digits 0–4 together make P%
                 of the training images and digits 5–9 Q%, evenly within each half
                 (DUMB's binary definition, class 0 = P%, applied to two halves);
                 the largest such subset of the training split is kept, so the
                 under-represented digits are subsampled, as in DUMB
That is 24 models, named SOURCE_ARCH_bP (mnist_lenet_b20.onnx), written to --out
with zoo.json: per model its source, architecture, balance, seed, epochs, class
counts, test accuracy on its own source's test split and on the other source's,
and sha256; and the MNIST→SynDigits and SynDigits→MNIST accuracy (the mean over
the models trained on one source, tested on the other).

Each model trains with its architecture's defaults (see advmatrix train --help:
SGD lr 0.05 momentum 0.9 for mlp and lenet, Adam lr 1e-3 for the others; batch
64, constant rate, no augmentation, no validation split) for --epochs epochs.
--limit N samples N images of each source's training split (seeded, shared by
all its models) before balancing; --test-limit N evaluates on the first N test
images. Every model's seed derives from --seed and its (source, arch, balance):
the same flags give byte-identical model files.

Optional steps registered by other packages run after the models with --with
NAME and add their entry to zoo.json's "extras" — the extension point for
surrogate sets (cSGLD, LGV), which the surrogates package is to register.

With the defaults (whole 60000-image training splits, 2 epochs) the build takes
about 15 minutes on two cores, two thirds of it the mobilenet models;
--epochs 1 --limit 30000 takes about 4 minutes.`
}
