package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Sentinel errors of CheckFile, beside ErrNoFile.
var (
	// ErrNotFile is returned when the path names a directory or another
	// non-regular file.
	ErrNotFile = errors.New("sqlite source: not a regular file")
	// ErrNotDatabase is returned when the file is not a SQLite database.
	ErrNotDatabase = errors.New("sqlite source: not a SQLite database")
	// ErrNoAccess is returned when the service may not read and write the
	// file.
	ErrNoAccess = errors.New("sqlite source: no permission")
)

// header is how every SQLite 3 database file starts.
var header = []byte("SQLite format 3\x00")

// CheckFile reports whether path can be a replication source without
// changing it: it must exist, be a regular file the process can read and
// write (the source installs triggers), and be a SQLite database (start
// with the SQLite header, or be empty: SQLite treats an empty file as an
// empty database). Open runs it first; powersync validate runs it alone.
func CheckFile(path string) error {
	if path == "" {
		return errors.New("sqlite source: no database path configured")
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s (create it first, or fix the path)", ErrNoFile, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w to look at %s: %v", ErrNoAccess, path, err)
	case err != nil:
		return fmt.Errorf("sqlite source: %w", err)
	case st.IsDir():
		return fmt.Errorf("%w: %s is a directory, not a database file", ErrNotFile, path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrNotFile, path, st.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w to read and write %s: the service needs both (it installs triggers), and to create %s-wal and %s-shm beside it",
				ErrNoAccess, path, path, path)
		}
		return fmt.Errorf("sqlite source: open %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, len(header))
	n, err := io.ReadFull(f, buf)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return nil // empty: a new database
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("sqlite source: read %s: %w", path, err)
	case !bytes.Equal(buf[:n], header):
		return fmt.Errorf("%w: %s does not start with the SQLite header (is it the right file?)", ErrNotDatabase, path)
	}
	return nil
}
