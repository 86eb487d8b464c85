; Tincan's Windows installer (NSIS 3). scripts/build-windows runs makensis on it with:
;   -DVERSION=0.1.0     the app's version (tauri.conf.json)
;   -DSRCDIR=DIR        where tincan.exe and WebView2Loader.dll are
;   -DOUTFILE=PATH      the installer to write (Tincan_VERSION_x64-setup.exe)
;   -DICON=PATH         src-tauri/icons/icon.ico
;
; It installs for the person running it, without administrator rights, into
; %LOCALAPPDATA%\Programs\Tincan: the app, a Start menu entry, the tincan:// links the app
; opens (docs/desktop-app.md, "Built-in server, links, one instance"), and an entry in
; Settings > Apps that uninstalls it. (tincan-cli.exe and tincan-server.exe are downloads of
; their own, as on Linux.) The app draws its window with Microsoft Edge WebView2, which
; Windows 11 and current Windows 10 have; where it is missing, the installer says so and
; opens Microsoft's download page.

; A 64-bit installer, as the app is (Windows 10 and 11 on x64).
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel user
ManifestDPIAware true

!include "MUI2.nsh"

!define PRODUCT "Tincan"
!define PUBLISHER "Tincan"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
!define LINK_KEY "Software\Classes\tincan"
; WebView2's runtime registers under this client id (Microsoft's documented check).
!define WEBVIEW2_CLIENT "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_DOWNLOAD "https://developer.microsoft.com/microsoft-edge/webview2/"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${PRODUCT}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${PRODUCT} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "MIT OR Apache-2.0"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\tincan.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${PRODUCT}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; WebView2 is present when either registry view names a version other than 0.0.0.0.
Function CheckWebView2
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    MessageBox MB_YESNO|MB_ICONEXCLAMATION \
      "${PRODUCT} shows its window with Microsoft Edge WebView2, which this computer does not have.$\r$\n$\r$\nOpen Microsoft's download page now? (Install the Evergreen runtime, then start ${PRODUCT}.)" \
      /SD IDNO IDNO done
    ExecShell "open" "${WEBVIEW2_DOWNLOAD}"
  done:
  ${EndIf}
FunctionEnd

Section "Tincan" main
  SectionIn RO
  SetOutPath "$INSTDIR"
  File "${SRCDIR}/tincan.exe"
  File "${SRCDIR}/WebView2Loader.dll"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortCut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\tincan.exe" "" "$INSTDIR\tincan.exe" 0

  ; tincan://join/CODE and tincan://person/CODE links open the app (it passes the link on
  ; to the copy already running).
  WriteRegStr HKCU "${LINK_KEY}" "" "URL:Tincan"
  WriteRegStr HKCU "${LINK_KEY}" "URL Protocol" ""
  WriteRegStr HKCU "${LINK_KEY}\DefaultIcon" "" "$INSTDIR\tincan.exe,0"
  WriteRegStr HKCU "${LINK_KEY}\shell\open\command" "" '"$INSTDIR\tincan.exe" "%1"'

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\tincan.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1

  Call CheckWebView2
SectionEnd

Section "Uninstall"
  Delete "$INSTDIR\tincan.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  DeleteRegKey HKCU "${LINK_KEY}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; The person's settings, contacts and keys (%APPDATA%\app.tincan.desktop) stay: they are
  ; theirs, and a reinstall finds them.
SectionEnd
