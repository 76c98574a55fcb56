package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/serve"
	"github.com/spf13/cobra"
)

func newServeCmd(a *app) *cobra.Command {
	var (
		listen string
		drain  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer GitLab's merge-request external status checks (the companion agent)",
		Long: `serve is a long-running HTTP service that GitLab calls for merge-request
external status checks (GitLab Ultimate). Each check configured under serve.checks
is added in GitLab (Settings > Merge requests > Status checks) with the URL
http://HOST:PORT/checks/NAME and a shared secret, whose value is in the variable
serve.checks[].secret_env names.

Every request must carry X-Gitlab-Signature, the hex HMAC-SHA256 of its body
with that secret (401 otherwise, nothing answered). A valid one is answered 202
at once and queued (serve.queue; 503 when full); serve.workers workers decide
the check and answer GitLab (POST .../status_check_responses), unless the
event's commit is no longer the MR's head.

Checks: title (the MR title is a Conventional Commit with an allowed type and
scope, serve.title), integration and promote (the verdict that stage recorded
for the MR's head commit in the artifact store; pending until there is one).

GET /healthz answers 200 with the counters as JSON.
SIGTERM or SIGINT stops taking requests and drains the queue (--drain-timeout).
Needs forge.type gitlab and an api token (PIPELINE_TOKEN). See docs/serve.md.`,
		Example: "  pipeline serve\n  pipeline serve --listen :8095 --log-format json\n  pipeline serve --dry-run     # decide and log, answer nothing",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.setup(cmd.Context())
			if err != nil {
				return err
			}
			cfg := env.Config.Serve
			if listen != "" {
				cfg.Listen = listen
			}
			if len(cfg.Checks) == 0 {
				return errs.New(errs.Usage, fmt.Errorf("serve: no checks configured in %s", configName(env.Config)),
					"list them under serve.checks, e.g. - {name: title, secret_env: PIPELINE_CHECK_SECRET}")
			}
			secrets := map[string]string{}
			for _, c := range cfg.Checks {
				v, _ := a.env.Lookup(c.SecretEnv)
				if v == "" {
					return errs.New(errs.Usage, fmt.Errorf("serve: check %s: the shared secret variable %s is not set", c.Name, c.SecretEnv),
						"set it to the shared secret given to the check in GitLab (Settings > Merge requests > Status checks)")
				}
				secrets[c.Name] = v
			}
			forge, ok := env.Forge.(serve.Forge)
			if !ok || !gitops.Can(env.Forge).ExternalStatusChecks {
				return errs.New(errs.Usage, fmt.Errorf("serve: the forge is %s; external status checks are GitLab's", env.Forge.Kind()),
					"set forge.type gitlab, forge.url and forge.project in pipeline.yaml, and PIPELINE_TOKEN")
			}
			if env.DryRun {
				forge = dryRunForge{Forge: forge, log: env.Log}
			}
			store, err := artifacts.Open(cmd.Context(), env.Config.Artifacts.URL, artifacts.Settings{Base: env.Repo, S3: env.Config.Artifacts.S3, Env: a.env})
			if err != nil {
				return err
			}
			project := env.Config.Forge.Project
			if project == "" {
				project = env.CI.Project
			}
			srv, err := serve.New(serve.Options{Config: cfg, Secrets: secrets, Project: project, Forge: forge,
				Verdicts: serve.StoreVerdicts{Store: store}, Log: env.Log})
			if err != nil {
				return errs.New(errs.Usage, err, "")
			}
			var lc net.ListenConfig
			ln, err := lc.Listen(cmd.Context(), "tcp", cfg.Listen)
			if err != nil {
				srv.Close(0)
				return errs.New(errs.Usage, fmt.Errorf("serve: listen on %s: %w", cfg.Listen, err), "choose a free address with serve.listen or --listen")
			}
			err = srv.Serve(cmd.Context(), ln, drain)
			if err != nil && !errors.Is(err, context.Canceled) {
				return errs.Infraf("%w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default: serve.listen, 127.0.0.1:8095)")
	cmd.Flags().DurationVar(&drain, "drain-timeout", time.Minute, "on SIGTERM, how long queued and in-flight events may take to finish")
	return cmd
}

// dryRunForge reads GitLab but answers nothing (--dry-run).
type dryRunForge struct {
	serve.Forge
	log *logging.Logger
}

func (d dryRunForge) SetExternalStatusCheck(_ context.Context, mr, checkID int, sha, status string) error {
	d.log.Infof("dry run: would answer status check %d on !%d at %s: %s", checkID, mr, statusShort(sha), status)
	return nil
}

func (d dryRunForge) UpsertComment(_ context.Context, target gitops.CommentTarget, marker, _ string) error {
	d.log.Infof("dry run: would comment on !%d (%s)", target.MergeRequest, marker)
	return nil
}
