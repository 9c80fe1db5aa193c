//! What `xl`/libxl does to xenstore for a vsnd device (libxl_vsnd.c, libxl_device.c;
//! pv-sound.md §1.8 and §5): the backend and frontend directories with their permissions in
//! one transaction, the card/PCM/stream configuration, and removal.

use xen_ring::grant::DomId;
use xen_ring::xs::{NO_TRANSACTION, Perm, Xenstore, XsError};

use super::xenstore::XenstoreHost;

/// A stream of a PCM device, as an xl `STREAM` item.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// "p" or "c".
    pub kind: &'static str,
    pub unique_id: Option<String>,
}

/// A PCM device, as an xl `PCM` item with its streams.
#[derive(Debug, Clone)]
pub struct PcmConfig {
    pub name: String,
    pub streams: Vec<StreamConfig>,
}

/// A card, as the xl `CARD` item. Common keys are written only when set, with libxl's
/// spellings (`f32_le` for floats, rates joined with commas).
#[derive(Debug, Clone, Default)]
pub struct CardConfig {
    pub short_name: Option<String>,
    pub long_name: Option<String>,
    pub sample_rates: Option<String>,
    pub sample_formats: Option<String>,
    pub channels_min: Option<u32>,
    pub channels_max: Option<u32>,
    pub buffer_size: Option<u32>,
    pub pcms: Vec<PcmConfig>,
}

impl CardConfig {
    /// One PCM device with a playback and a capture stream, at 44.1/48 kHz S16_LE, stereo.
    pub fn typical() -> CardConfig {
        CardConfig {
            short_name: Some("Xen".into()),
            long_name: Some("Xen PV audio".into()),
            sample_rates: Some("44100,48000".into()),
            sample_formats: Some("s16_le".into()),
            channels_min: Some(1),
            channels_max: Some(2),
            buffer_size: Some(65536),
            pcms: vec![PcmConfig {
                name: "Main".into(),
                streams: vec![
                    StreamConfig {
                        kind: "p",
                        unique_id: Some("main-pb".into()),
                    },
                    StreamConfig {
                        kind: "c",
                        unique_id: Some("main-cap".into()),
                    },
                ],
            }],
        }
    }
}

/// Paths of one vsnd device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsndDevice {
    pub frontend: DomId,
    pub backend: DomId,
    pub devid: u32,
}

impl VsndDevice {
    pub fn backend_path(&self) -> String {
        format!(
            "/local/domain/{}/backend/vsnd/{}/{}",
            self.backend, self.frontend, self.devid
        )
    }

    pub fn frontend_path(&self) -> String {
        format!("/local/domain/{}/device/vsnd/{}", self.frontend, self.devid)
    }
}

/// Creates the device as libxl does: both directories in one transaction (retried on
/// EAGAIN), backend dir owned by the backend with read for the frontend, frontend dir owned
/// by the guest with read for the backend, both states 1.
pub fn create_vsnd(
    host: &XenstoreHost,
    device: &VsndDevice,
    card: &CardConfig,
) -> Result<(), XsError> {
    let mut dom0 = host.connect(0);
    let (be, fe) = (device.backend_path(), device.frontend_path());
    let be_perms = [
        Perm {
            domid: device.backend,
            read: false,
            write: false,
        },
        Perm {
            domid: device.frontend,
            read: true,
            write: false,
        },
    ];
    let fe_perms = [
        Perm {
            domid: device.frontend,
            read: false,
            write: false,
        },
        Perm {
            domid: device.backend,
            read: true,
            write: false,
        },
    ];
    loop {
        let tx = dom0.transaction_start()?;
        // The two directories first, with their owners: every key below inherits them.
        dom0.write(tx, &be, b"")?;
        dom0.set_perms(tx, &be, &be_perms)?;
        dom0.write(tx, &fe, b"")?;
        dom0.set_perms(tx, &fe, &fe_perms)?;
        let mut write = |path: String, value: String| dom0.write(tx, &path, value.as_bytes());
        write(format!("{be}/frontend"), fe.clone())?;
        write(format!("{be}/frontend-id"), device.frontend.to_string())?;
        write(format!("{be}/online"), "1".into())?;
        write(format!("{be}/state"), "1".into())?;
        write(format!("{fe}/backend"), be.clone())?;
        write(format!("{fe}/backend-id"), device.backend.to_string())?;
        write(format!("{fe}/state"), "1".into())?;
        let common = |write: &mut dyn FnMut(String, String) -> Result<(), XsError>,
                      dir: &str|
         -> Result<(), XsError> {
            if let Some(v) = &card.sample_rates {
                write(format!("{dir}/sample-rates"), v.clone())?;
            }
            if let Some(v) = &card.sample_formats {
                write(format!("{dir}/sample-formats"), v.clone())?;
            }
            if let Some(v) = card.channels_min {
                write(format!("{dir}/channels-min"), v.to_string())?;
            }
            if let Some(v) = card.channels_max {
                write(format!("{dir}/channels-max"), v.to_string())?;
            }
            if let Some(v) = card.buffer_size {
                write(format!("{dir}/buffer-size"), v.to_string())?;
            }
            Ok(())
        };
        if let Some(v) = &card.short_name {
            write(format!("{fe}/short-name"), v.clone())?;
        }
        if let Some(v) = &card.long_name {
            write(format!("{fe}/long-name"), v.clone())?;
        }
        common(&mut write, &fe)?;
        for (d, pcm) in card.pcms.iter().enumerate() {
            write(format!("{fe}/{d}/name"), pcm.name.clone())?;
            for (s, stream) in pcm.streams.iter().enumerate() {
                write(format!("{fe}/{d}/{s}/type"), stream.kind.into())?;
                if let Some(id) = &stream.unique_id {
                    write(format!("{fe}/{d}/{s}/unique-id"), id.clone())?;
                }
            }
        }
        match dom0.transaction_end(tx, true) {
            Err(XsError::Again) => continue,
            other => return other,
        }
    }
}

/// Starts removal as libxl does: `online` = 0 and backend `state` = 5 (Closing). The caller
/// then waits for the backend to reach 6 and, with no `xl devd` in a driver domain, for the
/// backend to remove its own directory.
pub fn begin_remove_vsnd(host: &XenstoreHost, device: &VsndDevice) -> Result<(), XsError> {
    let mut dom0 = host.connect(0);
    let be = device.backend_path();
    dom0.write(NO_TRANSACTION, &format!("{be}/online"), b"0")?;
    dom0.write(NO_TRANSACTION, &format!("{be}/state"), b"5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_looks_as_libxl_writes_it_with_the_right_owners() {
        let host = XenstoreHost::new();
        let device = VsndDevice {
            frontend: 5,
            backend: 3,
            devid: 0,
        };
        create_vsnd(&host, &device, &CardConfig::typical()).unwrap();
        assert_eq!(
            host.peek("/local/domain/3/backend/vsnd/5/0/state")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            host.peek("/local/domain/3/backend/vsnd/5/0/frontend")
                .as_deref(),
            Some("/local/domain/5/device/vsnd/0")
        );
        assert_eq!(
            host.peek("/local/domain/5/device/vsnd/0/0/1/type")
                .as_deref(),
            Some("c")
        );
        assert_eq!(
            host.peek("/local/domain/5/device/vsnd/0/sample-rates")
                .as_deref(),
            Some("44100,48000")
        );
        let mut buf = [0u8; 64];
        // The guest owns its directory: it may rewrite its configuration (hints only).
        host.connect(5)
            .write(0, "/local/domain/5/device/vsnd/0/0/0/type", b"c")
            .unwrap();
        // The backend reads the frontend's tree but cannot write it; the guest cannot write ours.
        assert!(
            host.connect(3)
                .read(0, "/local/domain/5/device/vsnd/0/state", &mut buf)
                .is_ok()
        );
        assert_eq!(
            host.connect(3)
                .write(0, "/local/domain/5/device/vsnd/0/state", b"4"),
            Err(XsError::Denied)
        );
        assert_eq!(
            host.connect(5)
                .write(0, "/local/domain/3/backend/vsnd/5/0/state", b"4"),
            Err(XsError::Denied)
        );
        assert!(
            host.connect(5)
                .read(0, "/local/domain/3/backend/vsnd/5/0/state", &mut buf)
                .is_ok()
        );
        host.connect(3)
            .write(0, "/local/domain/3/backend/vsnd/5/0/state", b"2")
            .unwrap();
        begin_remove_vsnd(&host, &device).unwrap();
        assert_eq!(
            host.peek("/local/domain/3/backend/vsnd/5/0/online")
                .as_deref(),
            Some("0")
        );
    }
}
