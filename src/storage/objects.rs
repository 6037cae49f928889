//! Where attachments' bytes live (R-REC-1): one `object_store` behind the
//! URL of `--attachments-url`. `file://` (the default: the data directory's
//! `attachments/`) for one machine; `s3://bucket/prefix` for instances
//! sharing a PostgreSQL store (credentials and endpoint from the usual
//! `AWS_*` variables, so MinIO and other S3-compatible stores work);
//! `memory://` for tests. Only bytes go here; what they are is in the
//! database.
use crate::error::{AppError, AppResult};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
}

impl Objects {
    /// Open the store a URL names. A `file://` directory is created.
    pub fn open(url: &str) -> anyhow::Result<Objects> {
        let parsed =
            url::Url::parse(url).map_err(|e| anyhow::anyhow!("--attachments-url {url:?}: {e}"))?;
        if parsed.scheme() == "file" {
            let dir = parsed
                .to_file_path()
                .map_err(|_| anyhow::anyhow!("--attachments-url {url:?}: not a local path"))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            // Empty folders of finished uploads are removed with their parts.
            let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)?
                .with_automatic_cleanup(true);
            return Ok(Objects {
                store: Arc::new(local),
            });
        }
        // AWS_ENDPOINT and friends, as the builders' lower-case keys.
        let aws = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v));
        let (store, prefix) = object_store::parse_url_opts(&parsed, aws)
            .map_err(|e| anyhow::anyhow!("--attachments-url {url:?}: {e}"))?;
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Objects { store })
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> AppResult<()> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(failed)
    }

    /// The whole object (parts and files are at most 20 MiB).
    pub async fn get(&self, key: &str) -> AppResult<Bytes> {
        self.store
            .get(&Path::from(key))
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)
    }

    /// The object as a stream of byte chunks, as the store yields them.
    pub async fn stream(&self, key: &str) -> AppResult<BoxStream<'static, AppResult<Bytes>>> {
        let got = self.store.get(&Path::from(key)).await.map_err(failed)?;
        Ok(got.into_stream().map_err(failed).boxed())
    }

    /// Remove an object; one already gone is fine.
    pub async fn delete(&self, key: &str) -> AppResult<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }

    /// Keys under a prefix (tests and support).
    pub async fn keys(&self, prefix: &str) -> AppResult<Vec<String>> {
        let p = Path::from(prefix);
        self.store
            .list(Some(&p))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(failed)
    }
}

fn failed(e: object_store::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("object store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-memory backend, as an S3-compatible one behaves: what is put
    /// is got back whole and streamed, deletes are idempotent.
    #[tokio::test]
    async fn put_get_stream_delete_in_memory() {
        let o = Objects::open("memory:///").unwrap();
        let data = Bytes::from(vec![7u8; 3 << 20]);
        o.put("uploads/a/1", data.clone()).await.unwrap();
        assert_eq!(o.get("uploads/a/1").await.unwrap(), data);
        let streamed: Vec<Bytes> = o
            .stream("uploads/a/1")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(streamed.concat(), data.to_vec());
        assert_eq!(o.keys("uploads/a").await.unwrap(), vec!["uploads/a/1"]);
        o.delete("uploads/a/1").await.unwrap();
        o.delete("uploads/a/1").await.unwrap();
        assert!(o.get("uploads/a/1").await.is_err());
    }

    /// An S3 URL opens without a request (credentials are asked for on
    /// first use); an unknown scheme says which option is wrong.
    #[test]
    fn s3_urls_open_and_unknown_schemes_are_refused() {
        assert!(Objects::open("s3://fieldops-evidence/north").is_ok());
        let e = Objects::open("ftp://example.com/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--attachments-url"), "{e}");
        let e = Objects::open("not a url").unwrap_err().to_string();
        assert!(e.contains("--attachments-url"), "{e}");
    }

    #[tokio::test]
    async fn a_file_url_is_a_directory() {
        let dir = std::env::temp_dir().join(format!("fieldops-objects-{}", uuid::Uuid::new_v4()));
        let o = Objects::open(&format!("file://{}", dir.display())).unwrap();
        o.put("sha256/ab/abc", Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert!(dir.join("sha256/ab/abc").exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
