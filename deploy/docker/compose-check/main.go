// compose-check loads a compose project the way `docker compose config` does (compose-go:
// schema validation, .env interpolation, env_file merging, consistency checks) and prints the
// resolved project as JSON, so tests/deploy can inspect what Docker would really run without a
// Docker engine.
//
//	compose-check [compose file...]   # in the project directory; default docker-compose.yml
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	files := os.Args[1:]
	if len(files) == 0 {
		files = []string{"docker-compose.yml"}
	}
	options, err := cli.NewProjectOptions(
		files,
		cli.WithWorkingDirectory("."),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	resolved, err := json.Marshal(project)
	if err != nil {
		fail(err)
	}
	if _, err := os.Stdout.Write(resolved); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-check:", err)
	os.Exit(1)
}
