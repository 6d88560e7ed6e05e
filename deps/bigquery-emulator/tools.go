//go:build tools

// Keeps the emulator's command in this module's build list for `go build` and `go mod tidy`.
package tools

import _ "github.com/goccy/bigquery-emulator/cmd/bigquery-emulator"
