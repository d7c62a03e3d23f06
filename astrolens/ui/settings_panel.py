"""Settings: sources, schedule, thresholds, model, data folder, and API keys in the keyring.

Keys are written straight to the keyring through the controller and never read back into a
widget: the field only says whether a key is stored.
"""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.agent import AgentController
from astrolens.domain.backbones import (
    RECOMMENDED_ONLINE_BACKBONE,
    ZOOBOT_CITATION,
    ZOOBOT_ENCODERS,
)
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.settings import Settings, SourceSettings
from astrolens.ui.tasks import spawn
from astrolens.ui.widgets import ElidedLabel

SECRETS = {"nasa_api_key": "NASA API key (APOD)", "openai_api_key": "OpenAI API key"}
# Keyring backends in words; the class name stays in the tooltip.
KEYRING_WORDS = (
    ("SecretService", "your desktop's keyring (Secret Service)"),
    ("libsecret", "your desktop's keyring (Secret Service)"),
    ("kwallet", "KDE Wallet"),
    ("macOS", "the macOS Keychain"),
    ("Windows", "the Windows Credential Locker"),
    ("Plaintext", "a plain-text file on this computer (not encrypted)"),
    ("Encrypted", "an encrypted file on this computer"),
    ("chainer", "the system keyring"),
    ("fail", "no keyring"),
    ("null", "no keyring"),
)


def keyring_words(backend: str) -> str:
    for key, words in KEYRING_WORDS:
        if key.lower() in backend.lower():
            return words
    return "the system keyring"


# Every entry must parse as an embedder spec (tests/ui/test_settings_models.py): a choice that
# cannot load is worse than no choice.
MODELS = [
    "efficientnet-lite0",
    # Galaxy-trained encoders, downloaded on first use (online users: the better choice).
    *(b.spec for b in ZOOBOT_ENCODERS),
    "openclip:ViT-B-32/laion2b_s34b_b79k",
]
MODEL_HELP = (
    "Offline: efficientnet-lite0 (ImageNet). Online: "
    f"{RECOMMENDED_ONLINE_BACKBONE}, trained on galaxies, downloaded once. "
    f"Cite {ZOOBOT_CITATION.split(';')[0]}; licence as on its model card, shown when it loads."
)


class SettingsPanel(QWidget):
    settings_saved = pyqtSignal(object)  # Settings

    def __init__(self, controller: AgentController) -> None:
        super().__init__()
        self.controller = controller
        self.sources = QTableWidget(0, 3)
        self.sources.setHorizontalHeaderLabels(["Source", "On", "Rate /s"])
        self.sources.horizontalHeaderItem(2).setToolTip(
            "Requests per second; blank keeps the source's own polite default"
        )
        self.sources.verticalHeader().setVisible(False)
        self.sources.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.sources.setMinimumHeight(190)
        self.interval = QSpinBox()
        self.interval.setRange(1, 86_400)
        self.interval.setSuffix(" s")
        self.aggressive = QCheckBox("Aggressive mode (looser FDR: more discoveries, more noise)")
        self.fdr = QDoubleSpinBox()
        self.fdr.setRange(0.001, 0.5)
        self.fdr.setDecimals(3)
        self.fdr.setSingleStep(0.01)
        self.aggressive_fdr = QDoubleSpinBox()
        self.aggressive_fdr.setRange(0.001, 0.9)
        self.aggressive_fdr.setDecimals(3)
        self.aggressive_fdr.setSingleStep(0.05)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(MODELS)
        self.model.setToolTip(MODEL_HELP)
        self.data_dir = QLineEdit()
        # the folder in use now, even when it is the default or comes from $ASTROLENS_HOME
        current = str(controller.data_folder())
        self.data_dir.setPlaceholderText(f"{current} (in use)")
        self.data_dir.setToolTip(
            f"Images and the database are kept in {current}. Type another folder to move"
            " them there at the next start; leave empty to keep this one."
        )
        self.folders = QListWidget()
        self.folders.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.folders.setMaximumHeight(110)
        self.folders.setToolTip("Folders AstroLens scans for new images every cycle")
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._add_folder)
        self.remove_folder = QPushButton("Remove")
        self.remove_folder.clicked.connect(self._remove_folders)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.crossmatch = QCheckBox("Cross-match candidates with SIMBAD, NED, VizieR, OpenNGC")
        self.notifications = QCheckBox("Desktop notifications for anomalies")
        self.autostart = QCheckBox("Start AstroLens when I log in")

        self.keys: dict[str, QLineEdit] = {}
        self.key_state: dict[str, QLabel] = {}
        keys_box = QGroupBox("API keys (kept in the system keyring, never in files)")
        keys_form = QFormLayout(keys_box)
        for name, title in SECRETS.items():
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setObjectName(name)
            save = QPushButton("Store")
            clear = QPushButton("Remove")
            save.clicked.connect(lambda _=False, n=name: self.store_secret(n))
            clear.clicked.connect(lambda _=False, n=name: self.remove_secret(n))
            state = QLabel()
            state.setObjectName("muted")
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(save)
            row.addWidget(clear)
            row.addWidget(state)
            keys_form.addRow(title, row)
            self.keys[name] = edit
            self.key_state[name] = state
        self.keyring_status = QLabel()
        self.keyring_status.setObjectName("muted")
        self.keyring_status.setWordWrap(True)
        keys_form.addRow(self.keyring_status)

        discovery = QGroupBox("Discovery")
        form = QFormLayout(discovery)
        form.addRow("Sources", self.sources)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(add_folder)
        folder_buttons.addWidget(self.remove_folder)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)
        form.addRow("Watched folders", folder_row)
        form.addRow("Interval between cycles", self.interval)
        form.addRow(self.aggressive)
        form.addRow("False discovery rate", self.fdr)
        form.addRow("FDR in aggressive mode", self.aggressive_fdr)
        form.addRow("Model", self.model)
        self.model_help = QLabel(MODEL_HELP)
        self.model_help.setWordWrap(True)
        self.model_help.setStyleSheet("color: palette(mid);")
        form.addRow("", self.model_help)
        row = QHBoxLayout()
        row.addWidget(self.data_dir, 1)
        row.addWidget(browse)
        form.addRow("Data folder (applies after restart)", row)
        form.addRow(self.crossmatch)
        form.addRow(self.notifications)
        form.addRow(self.autostart)

        self.save_button = QPushButton("Save settings")
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.load)
        self.status = ElidedLabel()
        self.status.setObjectName("muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(18, 14, 18, 14)
        lay.addWidget(discovery)
        lay.addWidget(keys_box)
        lay.addLayout(buttons)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.load()

    # ------------------------------------------------------------------ settings

    def load(self) -> None:
        s = self.controller.settings()
        self._loaded = s
        self.sources.setRowCount(len(s.sources))
        for row, (sid, cfg) in enumerate(sorted(s.sources.items())):
            self.sources.setItem(row, 0, _readonly(sid))
            on = QTableWidgetItem()
            on.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            on.setCheckState(Qt.CheckState.Checked if cfg.enabled else Qt.CheckState.Unchecked)
            self.sources.setItem(row, 1, on)
            self.sources.setItem(
                row, 2, QTableWidgetItem("" if cfg.rate_per_s is None else f"{cfg.rate_per_s:g}")
            )
        self.interval.setValue(int(s.interval_s))
        self.aggressive.setChecked(s.aggressive)
        self.fdr.setValue(s.fdr)
        self.aggressive_fdr.setValue(s.aggressive_fdr)
        self.model.setCurrentText(s.model)
        self.data_dir.setText(s.data_dir or "")
        self.folders.clear()
        self.folders.addItems(s.watch_folders)
        if not s.watch_folders:
            self.folders.addItem(_hint("none: add a folder to scan it every cycle"))
        self.crossmatch.setChecked(s.crossmatch)
        self.notifications.setChecked(s.notifications)
        self.autostart.setChecked(s.autostart)
        self.refresh_secrets()
        self.status.setText("")

    def collect(self) -> Settings:
        """The form as Settings. Raises ConfigurationError for a value the user must fix."""
        base = self._loaded
        sources: dict[str, SourceSettings] = {}
        for row in range(self.sources.rowCount()):
            sid = self.sources.item(row, 0).text()
            old = base.sources.get(sid, SourceSettings())
            text = (self.sources.item(row, 2).text() if self.sources.item(row, 2) else "").strip()
            try:
                rate = float(text) if text else None
            except ValueError as exc:
                raise ConfigurationError(f"{sid}: the rate must be a number") from exc
            if rate is not None and rate <= 0:
                raise ConfigurationError(f"{sid}: the rate must be positive")
            enabled = self.sources.item(row, 1).checkState() == Qt.CheckState.Checked
            sources[sid] = dataclasses.replace(old, enabled=enabled, rate_per_s=rate)
        return dataclasses.replace(
            base,
            interval_s=float(self.interval.value()),
            aggressive=self.aggressive.isChecked(),
            fdr=self.fdr.value(),
            aggressive_fdr=self.aggressive_fdr.value(),
            model=self.model.currentText().strip() or base.model,
            data_dir=self.data_dir.text().strip() or None,
            watch_folders=self.watched_folders(),
            crossmatch=self.crossmatch.isChecked(),
            notifications=self.notifications.isChecked(),
            autostart=self.autostart.isChecked(),
            sources=sources,
        ).validate()

    def save(self) -> None:
        try:
            settings = self.collect()
        except ConfigurationError as exc:
            self.status.setText(f"Not saved: {exc}")
            return
        spawn(self._save(settings), name="settings-save")

    async def _save(self, settings: Settings) -> None:
        await self.controller.save_settings(settings)
        self._loaded = settings
        self.status.setText("Saved.")
        self.settings_saved.emit(settings)

    def watched_folders(self) -> list[str]:
        items = (self.folders.item(i) for i in range(self.folders.count()))
        return [it.text() for it in items if it is not None and it.flags() & _SELECTABLE]

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to watch")
        if path:
            self.add_watched_folder(path)

    def add_watched_folder(self, path: str) -> None:
        if path in self.watched_folders():
            return
        if not self.watched_folders():
            self.folders.clear()  # the "none" hint
        self.folders.addItem(path)
        self.status.setText("Save to start watching it.")

    def _remove_folders(self) -> None:
        for item in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(item))

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", self.data_dir.text())
        if path:
            self.data_dir.setText(path)

    # ------------------------------------------------------------------ secrets

    def refresh_secrets(self) -> None:
        st = self.controller.secrets_status()
        for name, edit in self.keys.items():
            present = st.present.get(name, False)
            edit.clear()
            edit.setPlaceholderText("stored — type to replace" if present else "not set")
            self.key_state[name].setText("✓ stored" if present else "")
        if st.available:
            words = f"Keys are kept in {keyring_words(st.backend)}."
        elif "PlaintextKeyring" in f"{st.backend} {st.error}":
            # The file fallback would keep keys unencrypted: nothing is stored.
            words = (
                "Keys are not stored: the only keyring here is a plain-text file on this "
                "computer (not encrypted). Start your desktop's keyring (GNOME Keyring, KWallet) "
                "to keep API keys."
            )
        else:
            words = "No keyring can be used, so keys cannot be stored."
        self.keyring_status.setText(words)
        # The backend's class and the full reason: one hover away.
        detail = f"keyring backend: {st.backend}"
        self.keyring_status.setToolTip(f"{detail}\n{st.error}" if st.error else detail)

    def store_secret(self, name: str) -> None:
        value = self.keys[name].text().strip()
        if not value:
            self.status.setText("Type the key first.")
            return
        error = self.controller.set_secret(name, value)
        self.keys[name].clear()  # the key leaves the widget at once, saved or not
        self.status.setText(f"Could not store the key: {error}" if error else "Key stored.")
        self.refresh_secrets()

    def remove_secret(self, name: str) -> None:
        error = self.controller.set_secret(name, None)
        self.status.setText(f"Could not remove the key: {error}" if error else "Key removed.")
        self.refresh_secrets()


_SELECTABLE = Qt.ItemFlag.ItemIsSelectable


def _hint(text: str) -> QListWidgetItem:
    item = QListWidgetItem(text)
    item.setFlags(Qt.ItemFlag.NoItemFlags)  # not a folder: greyed, never saved
    return item


def _readonly(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
    return item
