package stages

// StatusNamer is a stage that runs as several jobs of one pipeline (the
// integration shards, the child pipeline's per-target jobs). Each job must
// post its own commit status: GitLab keeps the latest status per name, so
// with one shared name the last job to finish would decide the commit's
// status and a failed shard could show green.
type StatusNamer interface {
	// StatusName is the status's name after "pipeline/" for this run, such
	// as "integration 1/2"; empty means the stage's Name.
	StatusName(env *Env) string
}

// StatusNameOf is the name s's commit status is posted under (after
// "pipeline/"). A stage that wraps another forwards it with this.
func StatusNameOf(s Stage, env *Env) string {
	if n, ok := s.(StatusNamer); ok {
		if name := n.StatusName(env); name != "" {
			return name
		}
	}
	return s.Name()
}
