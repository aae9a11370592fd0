// Package report holds advmatrix's results schema — what is written as
// JSON for programs and CI — and its renderings for people (tables,
// Markdown). The numbers inside the schema are computed by package
// metrics; report only arranges and renders them.
package report
