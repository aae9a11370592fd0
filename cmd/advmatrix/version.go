package main

import (
	"fmt"

	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/report"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the advmatrix version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{
					"version": version.String(), "go": version.Go(), "schema": report.SchemaVersion})
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "advmatrix %s (%s, results schema %s)\n", version.String(), version.Go(), report.SchemaVersion)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
