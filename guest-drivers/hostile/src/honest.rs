//! The honest part of the hostile guest: a small filesystem driver over the preopen `/data`
//! (committed content of `/a/b` in `/data/a/b`, uploads staged beside it in `~b.upload`,
//! `put_content` through `~b.tmp` and a rename), written as an ordinary SDK [`Driver`]. Its state
//! lives on the host's disk, so it survives the instance being replaced, which is what lets the
//! tests see whether a fault left a partial commit behind.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use wharf_guest_sdk::path::{ROOT, base_name, join, parent};
use wharf_guest_sdk::{Driver, Error, FileInfo, Params, ReadChunks, Result, Upload};

/// The guest path of the storage root (the preopen the manifest asks for).
pub const DATA: &str = "/data";

/// The honest filesystem driver.
pub struct Honest;

/// Where a contract path lives under [`DATA`].
fn full(path: &str) -> PathBuf {
    if path == ROOT {
        PathBuf::from(DATA)
    } else {
        PathBuf::from(format!("{DATA}{path}"))
    }
}

/// An own file beside `path`: `~<name><suffix>`, a name no contract path can spell.
fn beside(path: &str, suffix: &str) -> PathBuf {
    full(parent(path)).join(format!("~{}{suffix}", base_name(path)))
}

fn create_parent(path: &str) -> Result<()> {
    fs::create_dir_all(full(parent(path)))
        .map_err(|e| Error::from_io(e, "create parent directories of", path))
}

/// Opens a regular file for reading, with its size.
fn open_file(path: &str) -> Result<(File, u64)> {
    let file = File::open(full(path)).map_err(|e| Error::from_io(e, "open", path))?;
    let metadata = file
        .metadata()
        .map_err(|e| Error::from_io(e, "stat", path))?;
    if metadata.is_dir() {
        return Err(Error::not_found(path));
    }
    Ok((file, metadata.len()))
}

impl Driver for Honest {
    type Reader = FileReader;
    type Writer = FileUpload;

    fn new(params: Params) -> Result<Self> {
        params.finish()?;
        Ok(Self)
    }

    fn get_content(&self, path: &str) -> Result<Vec<u8>> {
        let (mut file, size) = open_file(path)?;
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut content)
            .map_err(|e| Error::from_io(e, "read", path))?;
        Ok(content)
    }

    fn put_content(&self, path: &str, content: Vec<u8>) -> Result<()> {
        create_parent(path)?;
        let temporary = beside(path, ".tmp");
        fs::write(&temporary, &content)
            .and_then(|()| fs::rename(&temporary, full(path)))
            .map_err(|e| {
                let _ = fs::remove_file(&temporary);
                Error::from_io(e, "put_content", path)
            })
    }

    fn reader(&self, path: &str, offset: u64) -> Result<FileReader> {
        let (mut file, size) = open_file(path)?;
        if offset > size {
            return Err(Error::invalid_offset(path, offset));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::from_io(e, "seek", path))?;
        Ok(FileReader {
            file,
            path: path.to_owned(),
        })
    }

    fn writer(&self, path: &str, append: bool) -> Result<FileUpload> {
        let staging = beside(path, ".upload");
        let file = if append {
            OpenOptions::new()
                .append(true)
                .open(&staging)
                .map_err(|e| Error::from_io(e, "resume upload of", path))?
        } else {
            create_parent(path)?;
            File::create(&staging).map_err(|e| Error::from_io(e, "create upload of", path))?
        };
        let size = file
            .metadata()
            .map_err(|e| Error::from_io(e, "stat upload of", path))?
            .len();
        Ok(FileUpload {
            file,
            staging,
            path: path.to_owned(),
            size,
        })
    }

    fn stat(&self, path: &str) -> Result<FileInfo> {
        let metadata = fs::metadata(full(path)).map_err(|e| Error::from_io(e, "stat", path))?;
        let mod_time = metadata
            .modified()
            .map_err(|e| Error::from_io(e, "stat", path))?;
        Ok(if metadata.is_dir() {
            FileInfo::dir(path, mod_time)
        } else {
            FileInfo::file(path, metadata.len(), mod_time)
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let entries = fs::read_dir(full(path)).map_err(|e| Error::from_io(e, "list", path))?;
        let mut children = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::from_io(e, "list", path))?;
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('~')
            {
                children.push(join(path, name));
            }
        }
        children.sort_unstable();
        Ok(children)
    }

    fn rename(&self, source: &str, dest: &str) -> Result<()> {
        fs::symlink_metadata(full(source)).map_err(|e| Error::from_io(e, "move", source))?;
        create_parent(dest)?;
        fs::rename(full(source), full(dest)).map_err(|e| Error::from_io(e, "move", source))
    }

    fn delete(&self, path: &str) -> Result<()> {
        let metadata =
            fs::symlink_metadata(full(path)).map_err(|e| Error::from_io(e, "delete", path))?;
        if metadata.is_dir() {
            fs::remove_dir_all(full(path))
        } else {
            fs::remove_file(full(path))
        }
        .map_err(|e| Error::from_io(e, "delete", path))
    }
}

/// A reader over an open file.
pub struct FileReader {
    file: File,
    path: String,
}

impl ReadChunks for FileReader {
    fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let mut chunk = vec![0; max];
        let n = self
            .file
            .read(&mut chunk)
            .map_err(|e| Error::from_io(e, "read", &self.path))?;
        chunk.truncate(n);
        Ok(chunk)
    }
}

/// An upload written straight to its staging file.
pub struct FileUpload {
    file: File,
    staging: PathBuf,
    path: String,
    size: u64,
}

impl Upload for FileUpload {
    fn write(&mut self, data: Vec<u8>) -> Result<()> {
        self.file
            .write_all(&data)
            .map_err(|e| Error::from_io(e, "write", &self.path))?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn close(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::from_io(e, "close", &self.path))
    }

    fn commit(&mut self) -> Result<()> {
        self.close()?;
        fs::rename(&self.staging, full(&self.path))
            .map_err(|e| Error::from_io(e, "commit", &self.path))
    }

    fn cancel(&mut self) -> Result<()> {
        match fs::remove_file(&self.staging) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::from_io(e, "cancel", &self.path))
            }
            _ => Ok(()),
        }
    }
}
