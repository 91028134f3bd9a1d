// Package syntax reads the SQL subset of PowerSync Sync Rules and Sync
// Streams: a lexer, a Pratt parser and the syntax tree it builds, with the
// byte span of every node so that diagnostics can point at the exact text.
//
// ParseSelect reads one query of a sync config and ParseExpr one
// expression. The package only reads: it resolves no names and checks no
// types. The compilers of package syncrules (legacy Sync Rules, edition-2
// alpha streams, edition-3 streams) walk the tree, each with its own rules
// about what is supported, and compile it into evaluation plans. Literal
// values are sqlvalue Values.
package syntax
