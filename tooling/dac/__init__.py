"""dac: detection-as-code for Microsoft Defender XDR and Microsoft Sentinel."""

__version__ = "0.1.0"
