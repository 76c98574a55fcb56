// Package release is the pure logic of `pipeline release`: semantic
// versions and tags, Conventional Commit parsing, the bump rules, the
// release plan (which version, why, what changed), the notes and changelog
// model and its rendering, and version-file updates as text transforms.
//
// Nothing here touches the disk, git or the network: stages/release reads
// the repository and the forge, hands the facts to this package, and acts
// on the plan it returns. That keeps every rule testable on its own.
package release
