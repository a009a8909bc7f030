"""Question banks: import (documents and tables), draft key points, versions, publishing, export."""
