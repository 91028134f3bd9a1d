package syncrules

// compileEdition3Hook is the seam between Parse and the edition-3 Sync
// Streams compiler (files stream*.go / compiler*.go). It compiles
// spec.streams (with spec.with) into c.streams3, reporting problems into d,
// and returns true; it returns false while no edition-3 compiler is built
// in, and Parse then rejects the config.
func (c *Config) compileEdition3Hook(spec *fileSpec, d *diagList) bool {
	if s := compileEdition3(spec, c.compat, c.opts, d); s != nil {
		c.streams3 = s
	}
	return true
}
