// Package storage is the application's access to its S3 bucket: presigned
// URLs for browser uploads and downloads, multipart uploads, object reads and
// writes, and the key layout every function agrees on.
//
// # Keys
//
// Uploads land at uploads/<user>/<asset>/source<ext> (UploadKey), so the
// ingest step can tell from the key alone whose upload it is (ParseUploadKey)
// and a presigned URL can only ever write under the uploader's own prefix.
// The user's filename never becomes part of a key; only a sanitised
// extension does. Step outputs live at jobs/<job>/<step>/<name> (JobKey):
// deterministic, so a repeated step overwrites instead of duplicating.
//
// # Presigned uploads
//
// A presigned PUT signs the Content-Type and the Content-Length, so S3
// refuses any other type or size with 403: the size the API checked against
// the user's quota is the size that gets stored. Multipart uploads sign the
// length of every part the same way. Files larger than 5 GiB must use
// multipart (S3's single PUT limit); PartSize picks the part size.
//
// Presigned URLs are short-lived (Options.PresignTTL, Options.DownloadTTL).
// S3 checks the expiry when a request starts, so a part URL that has begun
// uploading finishes even if it expires meanwhile; a client that is slow to
// start its later parts asks the API again (PresignParts may be called any
// number of times for the same upload).
//
// # Errors
//
// Failures the caller can act on are *apperr.Error values (a missing object
// is apperr.NotFound, a rejected multipart completion apperr.Invalid, ...);
// anything else is an S3 or network failure, wrapped with the operation.
package storage
