"""Signed QR credentials in the VN1 format (``../shared/specs/vn1-credential.md``)."""
