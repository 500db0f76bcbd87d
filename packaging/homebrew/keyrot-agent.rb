# Homebrew formula for keyrot-agent. Copy it into a tap (e.g. Formula/keyrot-agent.rb), then:
#   brew install keyrot-agent
#   brew services start keyrot-agent    # runs `keyrot-agent run` at login, as a LaunchAgent
# Use `brew services` rather than `keyrot-agent service install` with Homebrew: the service block
# below points at opt_bin, which survives upgrades; the Cellar path the binary runs from does not.
class KeyrotAgent < Formula
  desc "Rotate the AWS IAM access keys in ~/.aws/credentials without losing a working key"
  homepage "https://github.com/OWNER/keyrot-agent"
  # Placeholders: point url at a release tarball and set its sha256 (shasum -a 256 FILE).
  url "https://github.com/OWNER/keyrot-agent/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/OWNER/keyrot-agent.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    # The example post_rotate hooks (README, "Hooks").
    (pkgshare/"hooks").install Dir["packaging/hooks/*.py"]
    # Shell completions and the manual page, as `keyrot-agent completions`/`man` print them.
    bash_completion.install "packaging/completions/keyrot-agent.bash" => "keyrot-agent"
    zsh_completion.install "packaging/completions/_keyrot-agent"
    fish_completion.install "packaging/completions/keyrot-agent.fish"
    man1.install "packaging/man/keyrot-agent.1"
  end

  service do
    run [opt_bin/"keyrot-agent", "run"]
    keep_alive successful_exit: false
    process_type :background
    log_path var/"log/keyrot-agent.log"
    error_log_path var/"log/keyrot-agent.log"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/keyrot-agent --version")
    assert_match "complete -F", shell_output("#{bin}/keyrot-agent completions bash")
    # The LaunchAgent it would install names this binary; nothing is written.
    assert_match "<string>#{bin}/keyrot-agent</string>",
                 shell_output("#{bin}/keyrot-agent service install --kind launchd --dry-run")
  end
end
