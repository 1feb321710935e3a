"""The station panel: every role's instrument, connection and identity, live readouts.

Readouts are polled in a worker thread while no run is active. During a run the run's own
process holds the instruments (the window has closed its sessions): the readouts then come
from the run's point rows.
"""
from __future__ import annotations

import math
import threading
import time

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                             QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

POLL_INTERVAL_S = 0.5
READOUT_FONT = "font-size: 15pt; font-family: monospace;"


def _fmt(value, unit: str, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "--"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g} {unit}"


class ReadoutPoller(QObject):
    """Reads field, current, temperature and magnet state in a thread; emits a dict."""

    readings = pyqtSignal(dict)
    failed = pyqtSignal(str, str)  # instrument, message

    def __init__(self, interval_s: float = POLL_INTERVAL_S):
        super().__init__()
        self.interval_s = interval_s
        self.station = None
        self._idle = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass = threading.Lock()  # held while a round of readings is under way

    def start(self, station) -> None:
        if self._stop.is_set():
            return  # stopped for good (the window is closing): a late reconnect must not restart it
        self.station = station
        self._idle.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="readout-poller", daemon=True)
            self._thread.start()

    def set_idle(self, idle: bool) -> None:
        """Poll only when idle (no run active)."""
        (self._idle.set if idle else self._idle.clear)()

    def release_station(self) -> None:
        """Stop polling and forget the station, once the round under way has ended: its
        sessions are about to close (a run's process takes the instruments over)."""
        self._idle.clear()
        with self._pass:
            self.station = None

    def stop(self) -> None:
        self._stop.set()
        self._idle.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._idle.wait()
            if self._stop.is_set():
                return
            with self._pass:
                station = self.station
                out = self._read_all(station) if station is not None else {}
            if station is None:
                time.sleep(self.interval_s)
                continue
            if out and self._idle.is_set():
                self.readings.emit(out)
            self._stop.wait(self.interval_s)

    def _read_all(self, station) -> dict:
        from loopscope.instruments.roles import role_kind

        out: dict = {}
        for name, role in list(station.roles.items()):
            if not self._idle.is_set() or self._stop.is_set():
                break
            try:
                kind = role_kind(role)
                if kind == "field_source":
                    out[(name, "field_T")] = role.read_field_T()
                    out[(name, "current_A")] = role.read_current_A()
                    out[(name, "state")] = role.state()
                    if role.has_persistent_switch:
                        out[(name, "magnet_current_A")] = role.read_magnet_current_A()
                        out[(name, "heater")] = "on" if role.switch_heater_is_on() else "off"
                elif kind == "thermometer":
                    out[(name, "temperature_K")] = role.read_temperature_K()
                elif kind == "field_probe":
                    out[(name, "probe_field_T")] = role.read_field_T()
            except Exception as exc:  # shown in the panel; polling goes on
                self.failed.emit(name, str(exc))
        return out


class StationPanel(QWidget):
    reconnect_requested = pyqtSignal()

    COLUMNS = ("instrument", "role", "model", "resource", "connection", "identity (*IDN?)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.station = None
        self.readout_labels: dict[tuple[str, str], QLabel] = {}
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        self.title = QLabel("no station")
        self.title.setStyleSheet("font-weight: bold; font-size: 12pt;")
        head.addWidget(self.title, 1)
        self.status = QLabel("")
        head.addWidget(self.status)
        self.reconnect_button = QPushButton("Connect / reconnect")
        self.reconnect_button.setObjectName("reconnect")
        self.reconnect_button.clicked.connect(self.reconnect_requested)
        head.addWidget(self.reconnect_button)
        layout.addLayout(head)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("station_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        for i in range(len(self.COLUMNS) - 1):
            hh.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        layout.addWidget(self.table)
        self.readout_box = QGroupBox("live readouts")
        self.readout_form = QFormLayout(self.readout_box)
        layout.addWidget(self.readout_box)
        layout.addStretch(1)
        self.source_note = QLabel("")
        self.source_note.setStyleSheet("color: #555;")
        layout.addWidget(self.source_note)

    def set_connecting(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #806000;")
        self.reconnect_button.setEnabled(False)

    def set_handed_over(self) -> None:
        self.status.setText("held by the run")
        self.status.setStyleSheet("color: #0050a0; font-weight: bold;")
        self.reconnect_button.setEnabled(False)
        for row in range(self.table.rowCount()):
            self.table.setItem(row, 4, QTableWidgetItem("in the run process"))
        self.source_note.setText("the run's own process holds the instruments; readouts follow the run's "
                                 "points; the window connects again when the run has ended")

    def set_failed(self, message: str) -> None:
        self.status.setText("not connected")
        self.status.setStyleSheet("color: #b00000; font-weight: bold;")
        self.reconnect_button.setEnabled(True)
        self.table.setRowCount(0)
        self.source_note.setText(message)

    def set_station(self, station, description: str = "", identities: dict | None = None) -> None:
        """identities: {name: (state, idn)} gathered by the connecting thread (no I/O here)."""
        from loopscope.instruments.roles import role_kind

        self.station = station
        self.title.setText(f"station {station.name!r}" + (f" — {description}" if description else ""))
        self.status.setText("connected")
        self.status.setStyleSheet("color: #006000; font-weight: bold;")
        self.reconnect_button.setEnabled(True)
        self.table.setRowCount(len(station.roles))
        self.table.setFixedHeight(self.table.horizontalHeader().height() + 30 * len(station.roles) + 6)
        for row, (name, role) in enumerate(station.roles.items()):
            state, idn = (identities or {}).get(name, ("connected", getattr(role, "idn", "")))
            model = getattr(role, "model", "") or type(role).__name__
            for col, text in enumerate((name, role_kind(role), model, role.resource, state, idn)):
                item = QTableWidgetItem(str(text))
                if col == 4:
                    item.setForeground(Qt.GlobalColor.darkGreen if state == "connected" else Qt.GlobalColor.red)
                self.table.setItem(row, col, item)
        # readout rows
        while self.readout_form.rowCount():
            self.readout_form.removeRow(0)
        self.readout_labels.clear()
        for name, role in station.roles.items():
            kind = role_kind(role)
            keys = []
            if kind == "field_source":
                keys = [("field_T", "field"), ("current_A", "coil current"), ("state", "magnet state")]
                if role.has_persistent_switch:
                    keys += [("magnet_current_A", "magnet current"), ("heater", "switch heater")]
            elif kind == "thermometer":
                keys = [("temperature_K", "temperature")]
            elif kind == "field_probe":
                keys = [("probe_field_T", "probe field")]
            for key, label in keys:
                value = QLabel("--")
                value.setStyleSheet(READOUT_FONT)
                value.setObjectName(f"readout_{name}_{key}")
                self.readout_form.addRow(f"{name}: {label}", value)
                self.readout_labels[(name, key)] = value
        self.readout_box.adjustSize()
        self.source_note.setText("readouts polled every 0.5 s while idle; during a run they follow the run's points")

    _UNITS = {"field_T": "T", "current_A": "A", "temperature_K": "K", "probe_field_T": "T", "magnet_current_A": "A"}

    def show_readings(self, readings: dict) -> None:
        for (name, key), value in readings.items():
            label = self.readout_labels.get((name, key))
            if label is not None:
                label.setText(_fmt(value, self._UNITS.get(key, "")))

    def show_instrument_error(self, name: str, message: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0) and self.table.item(row, 0).text() == name:
                item = QTableWidgetItem("error")
                item.setForeground(Qt.GlobalColor.red)
                item.setToolTip(message)
                self.table.setItem(row, 4, item)

    def show_run_row(self, columns: list[str], row, source: str, detectors: dict) -> None:
        """Readouts from a run's latest point (no instrument traffic of our own)."""
        idx = {c: i for i, c in enumerate(columns)}
        out = {}
        for key in ("field_T", "current_A", "magnet_current_A"):
            if key in idx:
                out[(source, key)] = float(row[idx[key]])
        out[(source, "state")] = "in a run"
        for name, kind in detectors.items():
            for key in ("temperature_K", "probe_field_T"):
                col = key if key in idx else f"{name}_{key}"
                if col in idx and ((kind == "thermometer" and key == "temperature_K")
                                   or (kind == "field_probe" and key == "probe_field_T")):
                    out[(name, key)] = float(row[idx[col]])
        self.show_readings(out)
