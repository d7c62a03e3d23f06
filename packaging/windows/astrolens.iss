; Inno Setup recipe for AstroLens on Windows (https://jrsoftware.org/isinfo.php).
; Build the bundle first on Windows (`pyinstaller --noconfirm astrolens.spec`, which also
; renders build\bundle-inputs\icons\astrolens.ico and the version resource), then:
;     iscc /DVersion=0.1.0 packaging\windows\astrolens.iss
; Result: dist\AstroLens-<version>-setup.exe, a per-user install (no admin rights) with a
; Start-menu entry and an optional autostart task. The autostart uses the same per-user Run
; key (HKCU\...\Run, value "AstroLens") that Settings > "Start at login" toggles
; (astrolens/app/autostart.py), so the two never disagree.

#ifndef Version
  #define Version "0.1.0"
#endif

[Setup]
AppId={{6F2B7C1E-8A54-4C61-9E0B-0A5E7A9B4C11}
AppName=AstroLens
AppVersion={#Version}
AppPublisher=AstroLens
DefaultDirName={localappdata}\Programs\AstroLens
DefaultGroupName=AstroLens
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=AstroLens-{#Version}-setup
SetupIconFile=..\..\build\bundle-inputs\icons\astrolens.ico
UninstallDisplayIcon={app}\AstroLens.exe
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible

[Tasks]
Name: "autostart"; Description: "Start AstroLens when I log in"; Flags: unchecked

[Files]
Source: "..\..\dist\astrolens\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\AstroLens"; Filename: "{app}\AstroLens.exe"
Name: "{group}\Uninstall AstroLens"; Filename: "{uninstallexe}"

[Registry]
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; \
  ValueName: "AstroLens"; ValueData: """{app}\AstroLens.exe"""; Tasks: autostart; \
  Flags: uninsdeletevalue

[Run]
Filename: "{app}\AstroLens.exe"; Description: "Start AstroLens now"; Flags: nowait postinstall
