/// The release of this build, reported in `status` and by `--version`.
public enum ParkGuardVersion {
    public static let current = "0.1.0"
}
