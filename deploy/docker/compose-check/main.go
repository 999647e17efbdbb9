// compose-check loads a compose project the way `docker compose config` does (compose-go:
// schema validation, .env interpolation, env_file merging, consistency checks) and prints the
// resolved project as JSON, so tests/deploy can inspect what Docker would really run without a
// Docker engine.
//
//	compose-check [--service=NAME...] [compose file...]   # in the project directory
//
// The files default to docker-compose.yml; --service selects services (and what they depend
// on) as `docker compose up NAME...` does, so only their env files need to exist.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	var files, selected []string
	for _, argument := range os.Args[1:] {
		if name, ok := strings.CutPrefix(argument, "--service="); ok {
			selected = append(selected, name)
		} else {
			files = append(files, argument)
		}
	}
	if len(files) == 0 {
		files = []string{"docker-compose.yml"}
	}
	loading := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory("."),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
	}
	if len(selected) > 0 {
		loading = append(loading, cli.WithSelectedServices(selected...))
	}
	options, err := cli.NewProjectOptions(files, loading...)
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
