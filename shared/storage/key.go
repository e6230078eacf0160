package storage

import (
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
)

// ErrNotUploadKey is wrapped by ParseUploadKey's error: the key is not one
// that UploadKey makes.
var ErrNotUploadKey = errors.New("not an upload key")

const (
	uploadsDir   = "uploads"
	jobsDir      = "jobs"
	sourceName   = "source"
	maxExtLength = 8
)

// UploadKey returns the key of an asset's uploaded source file:
// uploads/<user>/<asset>/source<ext>. ext is filename's extension, lower
// case, with every character outside [a-z0-9] dropped and cut to 8
// characters, after a dot; it is empty when filename has no usable
// extension ("clip.MP4" gives ".mp4", "README" and "x." give ""). The rest
// of filename never reaches the key, so it cannot smuggle in path segments.
func UploadKey(userID, assetID uuid.UUID, filename string) string {
	return UploadPrefix(userID, assetID) + sourceName + extension(filename)
}

// VerifiedKey returns the key of the copy ingest makes of an upload's bytes
// once it has verified them: uploads/<user>/<asset>/verified<ext>. No upload
// URL is ever signed for it, so its owner cannot replace those bytes, and it
// is not an upload key (ParseUploadKey refuses it), so its ObjectCreated event
// starts nothing.
func VerifiedKey(userID, assetID uuid.UUID, filename string) string {
	return UploadPrefix(userID, assetID) + "verified" + extension(filename)
}

// UploadPrefix returns the prefix, ending in a slash, under which all of an
// asset's uploaded objects live: uploads/<user>/<asset>/. It is what
// DeletePrefix is given when the asset is deleted.
func UploadPrefix(userID, assetID uuid.UUID) string {
	return uploadsDir + "/" + userID.String() + "/" + assetID.String() + "/"
}

// JobKey returns the key of one output of a job's step:
// jobs/<job>/<step>/<name>. step and name come from code (a step name, a
// fixed file name such as "output.mp4"), never from users, and are used
// as given; name may hold slashes to group files.
func JobKey(jobID uuid.UUID, step, name string) string {
	return JobPrefix(jobID) + step + "/" + name
}

// JobPrefix returns the prefix, ending in a slash, under which all of a
// job's outputs live: jobs/<job>/.
func JobPrefix(jobID uuid.UUID) string {
	return jobsDir + "/" + jobID.String() + "/"
}

// ParseUploadKey returns the user and asset ids of a key made by UploadKey.
// It is strict: anything but exactly uploads/<uuid>/<uuid>/source[.ext], with
// ids in canonical lower-case form (not nil) and ext as UploadKey makes it,
// is an apperr.Invalid error wrapping ErrNotUploadKey.
func ParseUploadKey(key string) (userID, assetID uuid.UUID, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0] != uploadsDir {
		return uuid.Nil, uuid.Nil, notUploadKey(key, "want uploads/<user>/<asset>/source<ext>")
	}
	if userID, err = canonicalUUID(parts[1]); err != nil {
		return uuid.Nil, uuid.Nil, notUploadKey(key, "bad user id")
	}
	if assetID, err = canonicalUUID(parts[2]); err != nil {
		return uuid.Nil, uuid.Nil, notUploadKey(key, "bad asset id")
	}
	name, ok := strings.CutPrefix(parts[3], sourceName)
	if !ok || (name != "" && extension(name) != name) {
		return uuid.Nil, uuid.Nil, notUploadKey(key, "bad file name")
	}
	return userID, assetID, nil
}

func notUploadKey(key, reason string) error {
	return apperr.Wrap(apperr.Invalid, ErrNotUploadKey, "%q is not an upload key: %s", key, reason)
}

// canonicalUUID parses s only in the form uuid.UUID.String gives (uuid.Parse
// also takes braces, urn:uuid: and upper case, which would let two keys
// name one asset).
func canonicalUUID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, err
	}
	if id == uuid.Nil || id.String() != s {
		return uuid.Nil, errors.New("not a canonical non-nil uuid")
	}
	return id, nil
}

// extension returns ".ext" for filename as UploadKey describes, or "".
func extension(filename string) string {
	dot := strings.LastIndexByte(filename, '.')
	if dot < 0 || strings.ContainsAny(filename[dot:], `/\`) {
		return ""
	}
	var b strings.Builder
	for _, c := range []byte(filename[dot+1:]) {
		if b.Len() == maxExtLength {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "." + b.String()
}
